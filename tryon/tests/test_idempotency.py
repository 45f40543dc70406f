"""Idempotency-Key on the track endpoint: replay, reuse with another body, in progress, expiry."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conftest import Persona, Track
from stores.models import Store
from stores.services import SYSTEM, store_suspend
from tryon.models import IdempotencyRecord, TryOnEvent
from tryon.services.idempotency import idempotency_records_prune

pytestmark = pytest.mark.django_db


def balance(persona: Persona) -> int:
    return Store.objects.get(pk=persona.store.pk).credit_balance


def test_replay_returns_the_first_answer_and_debits_nothing(owner: Persona, track: Track) -> None:
    body = {"api_key": owner.secret, "variation_count": 2}
    first = track(body, HTTP_IDEMPOTENCY_KEY="gen-1")
    again = track(body, HTTP_IDEMPOTENCY_KEY="gen-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"success": True, "remaining_credits": 99, "variation_count": 2}
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert balance(owner) == 99
    assert TryOnEvent.objects.count() == 1


def test_key_order_and_whitespace_do_not_make_another_body(owner: Persona, track: Track) -> None:
    track(f'{{"api_key": "{owner.secret}", "success": true}}', HTTP_IDEMPOTENCY_KEY="k")
    again = track(f'{{ "success":true,"api_key":"{owner.secret}" }}', HTTP_IDEMPOTENCY_KEY="k")
    assert again["Idempotent-Replayed"] == "true"


def test_same_key_with_another_body_is_422(owner: Persona, track: Track) -> None:
    track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="gen-2")
    response = track({"api_key": owner.secret, "variation_count": 3}, HTTP_IDEMPOTENCY_KEY="gen-2")
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert balance(owner) == 99


def test_a_retry_long_after_the_first_replays_and_never_debits_again(owner: Persona, track: Track) -> None:
    # The old scheme took a key over after 60 s "in progress"; a bound key is never taken over.
    body = {"api_key": owner.secret}
    first = track(body, HTTP_IDEMPOTENCY_KEY="gen-4")
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        again = track(body, HTTP_IDEMPOTENCY_KEY="gen-4")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert balance(owner) == 99


def test_a_retry_refused_now_still_gets_the_first_answer(owner: Persona, track: Track) -> None:
    body = {"api_key": owner.secret}
    first = track(body, HTTP_IDEMPOTENCY_KEY="gen-8")
    store_suspend(store=owner.store, note="test", actor=SYSTEM)
    again = track(body, HTTP_IDEMPOTENCY_KEY="gen-8")
    assert (again.status_code, again.json()) == (200, first.json())
    assert again["Idempotent-Replayed"] == "true"


def test_the_record_holds_the_answer_it_replays(owner: Persona, track: Track) -> None:
    track({"api_key": owner.secret, "variation_count": 3}, HTTP_IDEMPOTENCY_KEY="gen-9")
    record = IdempotencyRecord.objects.get(store=owner.store, key="gen-9")
    assert (record.response_status, record.response_body["remaining_credits"]) == (200, 99)


def test_keys_are_scoped_to_the_store(owner: Persona, outsider: Persona, track: Track) -> None:
    assert track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="shared").status_code == 200
    other = track({"api_key": outsider.secret}, HTTP_IDEMPOTENCY_KEY="shared")
    assert other.status_code == 200
    assert "Idempotent-Replayed" not in other
    assert balance(outsider) == 99


def test_a_402_is_replayed_without_a_second_event(owner: Persona, track: Track) -> None:
    Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
    body = {"api_key": owner.secret}
    assert track(body, HTTP_IDEMPOTENCY_KEY="gen-5").status_code == 402
    again = track(body, HTTP_IDEMPOTENCY_KEY="gen-5")
    assert again.status_code == 402
    assert again.json()["error"] == "credit_limit_reached"
    assert again["Idempotent-Replayed"] == "true"
    assert TryOnEvent.objects.count() == 1


def test_a_refusal_releases_the_key_for_a_fixed_retry(owner: Persona, track: Track) -> None:
    store_suspend(store=owner.store, note="test", actor=SYSTEM)
    body = {"api_key": owner.secret}
    assert track(body, HTTP_IDEMPOTENCY_KEY="gen-6").status_code == 403
    Store.objects.filter(pk=owner.store.pk).update(status="active")
    assert track(body, HTTP_IDEMPOTENCY_KEY="gen-6").status_code == 200
    assert balance(owner) == 99


def test_a_key_expires_after_24_hours(owner: Persona, track: Track) -> None:
    body = {"api_key": owner.secret}
    track(body, HTTP_IDEMPOTENCY_KEY="gen-7")
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        again = track(body, HTTP_IDEMPOTENCY_KEY="gen-7")
        assert "Idempotent-Replayed" not in again
        assert balance(owner) == 98
        assert idempotency_records_prune(now=timezone.now() + timedelta(hours=25)) == 1


@pytest.mark.parametrize("key", ["", "x" * 256])
def test_key_length_is_checked(owner: Persona, track: Track, key: str) -> None:
    response = track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fieldErrors"]
    assert balance(owner) == 100
