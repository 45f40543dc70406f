"""`manage.py prune_expired`: the tables that only grew are trimmed, and only of what is dead."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conftest import Persona, Track
from quotas.models import ShopperSession
from quotas.sessions import session_mint, session_revoke
from stores.tests.test_commands import call_human, call_json
from tryon.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def test_prunes_day_old_records_and_dead_sessions_only(owner: Persona, track: Track) -> None:
    track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="old")
    session_revoke(customer=owner.customer, jti=session_mint(customer=owner.customer).jti)
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=23)):
        track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="recent")
    with time_machine.travel(start + timedelta(hours=23, minutes=50)):
        live = session_mint(customer=owner.customer, expires_in=3600)
        session_revoke(customer=owner.customer, jti=live.jti)
    with time_machine.travel(start + timedelta(hours=24, minutes=1)):
        assert call_json("prune_expired") == {"idempotency_records": 1, "sessions": 1, "key_refusals": 0}
        # The recent key still replays; the live token's revocation still holds.
        replay = track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="recent")
        assert replay["Idempotent-Replayed"] == "true"
        assert track({"api_key": owner.secret, "end_customer_token": live.token}).status_code == 401
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    assert list(ShopperSession.objects.values_list("jti", flat=True)) == [live.jti]


def test_human_output(db: None) -> None:
    out = call_human("prune_expired")
    assert out.strip() == "Pruned 0 idempotency record(s), 0 expired shopper session(s) and 0 old key refusal count(s)."
