"""stores/migrations/0012: a suspension's internal note in entries older than 0010 moves under
the staff-only keys, so the portal's trail never shows it."""

import importlib

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from conftest import Persona
from stores.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_old_suspension_notes_are_hidden_from_the_merchant(owner: Persona) -> None:
    migration = importlib.import_module("stores.migrations.0012_suspension_notes_in_old_entries")
    common = {"store": owner.store, "target": owner.store.public_id, "actor": "command:root"}
    suspended = AuditEntry.objects.create(
        action="store.suspended", detail={"reason": "Chargebacks on BIN 4111"}, **common
    )
    reactivated = AuditEntry.objects.create(
        action="store.reactivated",
        detail={"reason": "Invoice paid", "previous_reason": "Chargebacks on BIN 4111"},
        **common,
    )
    migration.move_old_notes(apps, None)
    suspended.refresh_from_db()
    reactivated.refresh_from_db()
    assert suspended.detail == {"note": "Chargebacks on BIN 4111"}  # staff still read it in the admin
    assert reactivated.detail == {"reason": "Invoice paid", "previous_note": "Chargebacks on BIN 4111"}
    client = Client()
    client.force_login(owner.user)
    html = client.get(reverse("portal-audit", args=[owner.store.public_id])).content.decode()
    assert "Invoice paid" in html
    assert "4111" not in html
