"""Walking /api/v1/customers sees every customer that existed when the walk began exactly once,
however many are inserted meanwhile."""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from conftest import V1, Persona
from quotas.models import EndCustomer
from quotas.services import end_customer_create


def walk(api: V1, limit: int, between_pages: object = None) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = api.get("/customers", **params).json()
        seen += [customer["id"] for customer in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if callable(between_pages):
            between_pages()


@pytest.mark.django_db
def test_inserts_between_pages_neither_repeat_nor_hide_anyone(api: V1, owner: Persona) -> None:
    for i in range(25):
        end_customer_create(store=owner.store, external_id=f"before-{i}")
    before = set(EndCustomer.objects.filter(store=owner.store).values_list("public_id", flat=True))
    inserted = iter(range(1000))

    def insert_three() -> None:
        for _ in range(3):
            end_customer_create(store=owner.store, external_id=f"during-{next(inserted)}")

    seen = walk(api, limit=4, between_pages=insert_three)
    counts = Counter(seen)
    assert max(counts.values()) == 1  # nobody twice
    assert before <= set(seen)  # everybody who was there at the start
    assert set(seen) <= set(EndCustomer.objects.values_list("public_id", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
def test_walk_while_another_connection_keeps_inserting(owner: Persona) -> None:
    for i in range(60):
        end_customer_create(store=owner.store, external_id=f"before-{i}")
    before = set(EndCustomer.objects.filter(store=owner.store).values_list("public_id", flat=True))
    stop = threading.Event()
    inserted: list[str] = []

    def keep_inserting() -> None:
        try:
            while not stop.is_set() and len(inserted) < 500:
                customer = end_customer_create(
                    store=owner.store, external_id=f"live-{len(inserted)}", now=timezone.now()
                )
                inserted.append(customer.public_id)
        finally:
            connection.close()

    writer = threading.Thread(target=keep_inserting)
    writer.start()
    try:
        seen = walk(V1(Client(), owner.secret), limit=7)
    finally:
        stop.set()
        writer.join(timeout=30)
    assert inserted  # the writer really ran during the walk
    assert max(Counter(seen).values()) == 1
    assert before <= set(seen)
