"""Try-on events in the support console are read-only and filterable; and every page of the
console, for every registered model, renders for staff without ever showing a balance field or a
key hash."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import formats, timezone

from conftest import Persona, Track
from genvoris.tests.admin_pages import admin_url, change_url, registered_models, run_action
from stores.models import AuditEntry, CreditLedgerEntry, CreditPack, Store
from stores.services import SYSTEM, store_suspend
from tryon import admin as tryon_admin
from tryon.models import TryOnEvent

pytestmark = pytest.mark.django_db

# Any form input for a figure that only services may move.
MONEY_INPUT = re.compile(r'name="[^"]*(credit_balance|remaining|balance_after|delta|used|credits)"')


@pytest.fixture
def events(owner: Persona, outsider: Persona, track: Track) -> list[TryOnEvent]:
    track({"api_key": owner.secret, "product_title": "Wool coat", "product_type": "apparel"})
    track({"api_key": owner.secret, "product_title": "Oak table", "product_type": "home", "success": False})
    track({"api_key": outsider.secret, "product_title": "Silk scarf"})
    return list(TryOnEvent.objects.order_by("id"))


class TestEvents:
    def test_list_filters_and_search(self, admin_client: Client, owner: Persona, events: list[TryOnEvent]) -> None:
        url = admin_url(TryOnEvent, "changelist")

        def found(**params: Any) -> list[str]:
            response = admin_client.get(url, params)
            assert response.status_code == 200
            return [e.product_title for e in response.context["cl"].result_list]

        assert found() == ["Silk scarf", "Oak table", "Wool coat"]  # newest first
        assert found(outcome__exact="failed") == ["Oak table"]
        assert found(product_type__exact="home") == ["Oak table"]
        assert found(store__id__exact=owner.store.pk) == ["Oak table", "Wool coat"]
        assert found(q="wool") == ["Wool coat"]
        assert found(q=events[2].public_id) == ["Silk scarf"]
        today = events[0].created_at
        assert len(found(created_at__year=today.year, created_at__month=today.month, created_at__day=today.day)) == 3

    def test_the_list_never_reads_the_whole_table(
        self, admin_client: Client, events: list[TryOnEvent], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # More events than a page holds, as on a real store (Django reads a single page unbounded).
        monkeypatch.setattr(admin.site._registry[TryOnEvent], "list_per_page", 1)
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(admin_url(TryOnEvent, "changelist"), {"outcome__exact": "debited"})
        assert response.status_code == 200
        on_events = [q["sql"].upper() for q in queries.captured_queries if "TRYON_TRYONEVENT" in q["sql"].upper()]
        assert on_events
        for sql in on_events:  # no unbounded COUNT, MIN/MAX or DISTINCT: every read stops at a LIMIT
            assert "LIMIT" in sql, sql
            assert "DISTINCT" not in sql, sql
            assert "MIN(" not in sql, sql

    def test_the_count_stops_at_the_cap(
        self, admin_client: Client, events: list[TryOnEvent], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(tryon_admin, "COUNT_CAP", 2)
        response = admin_client.get(admin_url(TryOnEvent, "changelist"))
        assert response.context["cl"].result_count == 3
        assert "More than" in response.content.decode()
        response = admin_client.get(admin_url(TryOnEvent, "changelist"), {"outcome__exact": "failed"})
        assert "1 try on event" in response.content.decode()

    def test_date_hierarchy_from_the_first_and_last_event(self, admin_client: Client, events: list[TryOnEvent]) -> None:
        first_at = datetime(2025, 12, 20, 9, 30, tzinfo=UTC)
        TryOnEvent.objects.filter(pk=events[0].pk).update(created_at=first_at)
        url = admin_url(TryOnEvent, "changelist")

        def titles(**params: Any) -> list[str]:
            dates = admin_client.get(url, params).context["event_dates"]
            return [choice["title"] for choice in dates["choices"]]

        assert titles()[:2] == ["2025", "2026"]
        assert titles(created_at__year=2025) == ["December 2025"]
        assert titles(created_at__year=2025, created_at__month=12) == [f"December {d}" for d in range(20, 32)]
        assert titles(created_at__year=2025, created_at__month=12, created_at__day=20) == ["December 20"]
        in_that_day = admin_client.get(url, {"created_at__year": 2025, "created_at__month": 12, "created_at__day": 20})
        assert [e.pk for e in in_that_day.context["cl"].result_list] == [events[0].pk]

    def test_read_only(self, admin_client: Client, events: list[TryOnEvent]) -> None:
        event = events[0]
        assert admin_client.get(admin_url(TryOnEvent, "add")).status_code == 403
        assert admin_client.post(admin_url(TryOnEvent, "add"), {"product_title": "x"}).status_code == 403
        assert admin_client.get(change_url(event)).status_code == 200  # view only
        assert admin_client.post(change_url(event), {"product_title": "edited"}).status_code == 403
        assert admin_client.post(admin_url(TryOnEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
        run_action(admin_client, TryOnEvent, "delete_selected", [event], post="yes")
        assert TryOnEvent.objects.get(pk=event.pk).product_title == "Wool coat"


@pytest.fixture
def blocked(owner: Persona, track: Track) -> TryOnEvent:
    """A try-on the shopper's paused account refused (402): the backend reported a success."""
    token = owner.token()  # minted while the customer was active
    owner.customer.status = "PAUSED"
    owner.customer.save(update_fields=["status"])
    response = track({"api_key": owner.secret, "product_title": "Linen shirt", "end_customer_token": token})
    assert response.status_code == 402
    return TryOnEvent.objects.get(product_title="Linen shirt")


class TestEventsForSupport:
    """Issue 13: events could not be filtered by store or customer, outcome labels were raw enum
    text, and a blocked event's page said "Success ✓" without a timestamp."""

    def found(self, client: Client, **params: Any) -> list[str]:
        response = client.get(admin_url(TryOnEvent, "changelist"), params)
        assert response.status_code == 200
        return [e.product_title for e in response.context["cl"].result_list]

    def test_search_by_store_and_customer(
        self, admin_client: Client, owner: Persona, outsider: Persona, events: list[TryOnEvent], blocked: TryOnEvent
    ) -> None:
        assert self.found(admin_client, q=owner.store.public_id) == ["Linen shirt", "Oak table", "Wool coat"]
        assert self.found(admin_client, q="Outsider Sh") == ["Silk scarf"]
        assert self.found(admin_client, q=owner.customer.public_id) == ["Linen shirt"]
        assert self.found(admin_client, q=owner.customer.external_id) == ["Linen shirt"]

    def test_filter_by_store_customer_outcome_and_reason(
        self, admin_client: Client, owner: Persona, outsider: Persona, events: list[TryOnEvent], blocked: TryOnEvent
    ) -> None:
        assert self.found(admin_client, store=outsider.store.public_id) == ["Silk scarf"]
        assert self.found(admin_client, store=f" {owner.store.public_id} ", outcome__exact="failed") == ["Oak table"]
        assert self.found(admin_client, customer=owner.customer.external_id) == ["Linen shirt"]
        assert self.found(admin_client, customer=owner.customer.public_id, reason="paused") == ["Linen shirt"]
        assert self.found(admin_client, reason="quota_exhausted") == []
        assert self.found(admin_client, outcome__exact="end_customer_quota") == ["Linen shirt"]
        assert self.found(admin_client, store="st_nobody") == []

    def test_the_filters_are_typed_in_and_keep_the_others(
        self, admin_client: Client, owner: Persona, events: list[TryOnEvent]
    ) -> None:
        url = admin_url(TryOnEvent, "changelist")
        html = admin_client.get(url, {"outcome__exact": "failed", "q": "oak"}).content.decode()
        assert '<input type="search" id="gv-filter-store" name="store" value=""' in html
        assert '<input type="search" id="gv-filter-customer" name="customer" value=""' in html
        assert '<input type="hidden" name="outcome__exact" value="failed">' in html
        assert '<input type="hidden" name="q" value="oak">' in html
        assert "By reason blocked" in html

    def test_readable_outcome_labels(self, admin_client: Client, events: list[TryOnEvent], blocked: TryOnEvent) -> None:
        html = admin_client.get(admin_url(TryOnEvent, "changelist")).content.decode()
        assert '<span class="gv-badge gv-badge-debited">Charged</span>' in html
        assert '<span class="gv-badge gv-badge-failed">Generation failed</span>' in html
        assert '<span class="gv-badge gv-badge-end-customer-quota">Blocked: shopper&#x27;s quota</span>' in html
        assert '<span class="gv-reason">shopper paused</span>' in html
        assert "end_customer_quota (" not in html

    def test_a_blocked_event_never_says_success_and_shows_when(self, admin_client: Client, blocked: TryOnEvent) -> None:
        assert blocked.success is True  # what the backend reported; the shopper saw nothing
        html = admin_client.get(change_url(blocked)).content.decode()
        content = html.split('id="content-main"')[1]
        assert "Success" not in content
        assert "icon-yes" not in content
        assert "Refused with 402 by the shopper&#x27;s quota. Not shown, not charged." in content
        assert "Created at" in content
        assert formats.date_format(timezone.localtime(blocked.created_at), "DATETIME_FORMAT") in content
        assert blocked.api_key.prefix in content

    def test_a_charged_event_says_so(self, admin_client: Client, events: list[TryOnEvent]) -> None:
        content = admin_client.get(change_url(events[0])).content.decode().split('id="content-main"')[1]
        assert "Shown to the shopper; 1 credit charged." in content


class TestStoreActivity:
    def test_last_try_on_column(self, admin_client: Client, owner: Persona, events: list[TryOnEvent]) -> None:
        cl = admin_client.get(admin_url(Store, "changelist")).context["cl"]
        last = {s.pk: s.last_tryon_at for s in cl.result_list}
        assert last[owner.store.pk] == events[1].created_at
        assert "last_tryon" in cl.list_display

    def test_sortable_by_last_try_on(
        self, admin_client: Client, owner: Persona, outsider: Persona, track: Track
    ) -> None:
        Store.objects.create(name="Quiet shop")
        track({"api_key": outsider.secret})
        track({"api_key": owner.secret})
        index = admin_client.get(admin_url(Store, "changelist")).context["cl"].list_display.index("last_tryon")
        cl = admin_client.get(admin_url(Store, "changelist"), {"o": f"-{index}"}).context["cl"]
        assert [s.name for s in cl.result_list][:2] == ["Owner Shop", "Outsider Shop"]


def _instances(owner: Persona, admin_user: Any) -> dict[type[Model], Model]:
    """One row of every model the console shows, each written the way production writes it."""
    store_suspend(store=owner.store, note="fraud", actor=SYSTEM)
    return {
        Store: owner.store,
        CreditPack: CreditPack.objects.filter(store=owner.store).first(),
        CreditLedgerEntry: CreditLedgerEntry.objects.filter(store=owner.store).first(),
        AuditEntry: AuditEntry.objects.filter(store=owner.store).first(),
        TryOnEvent: TryOnEvent.objects.filter(store=owner.store).first(),
        owner.plan._meta.model: owner.plan,
        owner.customer._meta.model: owner.customer,
        admin_user._meta.model: admin_user,
        Group: Group.objects.create(name="Support"),
    }


def test_every_page_of_every_model_renders(
    admin_client: Client, admin_user: Any, owner: Persona, events: list[TryOnEvent]
) -> None:
    admin_client.post("/admin/login/", {"username": "nobody", "password": "wrong"})  # rows for django-axes' models
    ours = _instances(owner, admin_user)
    hashes = [key.key_hash for key in owner.store.api_keys.all()]
    assert {Store, CreditPack, CreditLedgerEntry, AuditEntry, TryOnEvent} <= set(registered_models())
    for model in registered_models():
        pages = [admin_url(model, "changelist")]
        instance = ours.get(model) or model._default_manager.first()
        if instance is not None:
            pages.append(change_url(instance))
        for url in pages:
            response = admin_client.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            assert not MONEY_INPUT.search(html), (url, MONEY_INPUT.search(html))
            for key_hash in hashes:
                assert key_hash not in html, url
    for model in ours:
        assert model in registered_models(), model
