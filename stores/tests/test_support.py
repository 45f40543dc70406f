"""Issue 13, support half: revocation is final, key changes audited, commands silent on stderr."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction

from genvoris.errors import ApiError
from stores.models import ApiKey, AuditEntry
from stores.services import Actor, api_key_disable, api_key_enable, api_key_revoke

pytestmark = pytest.mark.django_db
STAFF = Actor("support@genvoris.org")


def test_a_revoked_key_cannot_be_re_enabled_by_the_service(owner):
    api_key_revoke(key=owner.key, actor=STAFF)
    with pytest.raises(ApiError):
        api_key_enable(key=owner.key, reason="customer asked", actor=STAFF)
    owner.key.refresh_from_db()
    assert not owner.key.active
    assert owner.key.revoked_at is not None


def test_the_database_refuses_a_revoked_key_that_is_active(owner):
    api_key_revoke(key=owner.key)
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.filter(pk=owner.key.pk).update(active=True)


def test_staff_disable_and_enable_are_audited_with_actor_before_after_reason(owner):
    api_key_disable(key=owner.key, reason="abuse report", actor=STAFF)
    api_key_disable(key=owner.key, reason="again", actor=STAFF)  # a repeat is a no-op
    api_key_enable(key=owner.key, reason="resolved", actor=STAFF)
    entries = list(AuditEntry.objects.filter(target=owner.key.public_id).order_by("id"))
    assert [(e.action, e.actor, e.detail["before"], e.detail["after"], e.detail["reason"]) for e in entries] == [
        (AuditEntry.Action.API_KEY_DISABLED, STAFF.label, "active", "disabled", "abuse report"),
        (AuditEntry.Action.API_KEY_ENABLED, STAFF.label, "disabled", "active", "resolved"),
    ]


def test_a_reason_is_required_to_disable(owner):
    with pytest.raises(ApiError):
        api_key_disable(key=owner.key, reason="  ", actor=STAFF)


def test_revoke_is_audited_once(owner):
    api_key_revoke(key=owner.key, actor=STAFF)
    api_key_revoke(key=owner.key, actor=STAFF)
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.API_KEY_REVOKED, target=owner.key.public_id)
    assert [(e.actor, e.detail["after"]) for e in entries] == [(STAFF.label, "revoked")]


@pytest.mark.django_db(transaction=False)
def test_a_command_that_succeeds_is_silent_on_stderr():
    root = Path(__file__).resolve().parents[2]
    # One process: the shared-cache warning (genvoris.W001) is about gunicorn, not this command.
    environment = {**os.environ, "WEB_CONCURRENCY": "1"}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=root, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
