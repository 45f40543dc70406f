"""Session JWTs (quotas/sessions.py, SPEC §5): signing keys, mint, every token attack through the
real track endpoint, rotation, the JWKS endpoint, revocation."""

import base64
import hashlib
import hmac
import io
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client
from jwt.algorithms import RSAAlgorithm

from conftest import Persona, Track
from genvoris.errors import ApiError, ErrorCode
from quotas import sessions
from quotas.models import EndCustomer, ShopperSession, SigningKey, UsagePeriod
from quotas.sessions import (
    _private_key,
    jwks,
    session_mint,
    session_revoke,
    session_verify,
    sessions_prune,
    signing_key_active,
    signing_key_rotate,
)
from quotas.tests.factories import EndCustomerFactory
from stores.models import Store
from tryon.models import TryOnEvent

pytestmark = pytest.mark.django_db

CREDITS = 100  # what the persona fixtures start with
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


# --- helpers ----------------------------------------------------------------------------------


class _Missing:
    """Marks a claim to leave out of a crafted token."""


MISSING = _Missing()


def claims_for(customer: EndCustomer, **changes: Any) -> dict[str, Any]:
    """The claims session_mint would write for this customer, with `changes` applied."""
    iat = int(time.time())
    claims: dict[str, Any] = {
        "sub": customer.public_id,
        "sid": customer.store.public_id,
        "pid": customer.plan.public_id if customer.plan else None,
        "iss": settings.GENVORIS_JWT_ISSUER,
        "aud": settings.GENVORIS_JWT_AUDIENCE,
        "iat": iat,
        "exp": iat + 900,
        "jti": f"{customer.public_id}-{iat}-crafted",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not MISSING}


def sign(
    claims: dict[str, Any],
    *,
    key: SigningKey | None = None,
    algorithm: str = "RS256",
    header: dict[str, Any] | None = None,
) -> str:
    """A token signed with a real Genvoris private key (the active one unless `key` is given).

    Signed by hand rather than with jwt.encode, which refuses to write some of the malformed
    claims and headers these tests need.
    """
    key = key or signing_key_active()
    header = {"alg": algorithm, "kid": key.kid, "typ": "JWT"} if header is None else header
    signing_input = f"{b64json(header)}.{b64json(claims)}".encode()
    hash_algorithm = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}[algorithm]
    signature = _private_key(key).sign(signing_input, padding.PKCS1v15(), hash_algorithm)
    return f"{signing_input.decode()}.{b64url(signature)}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
        signature,
    )


def at(unix_seconds: float) -> time_machine.travel:
    return time_machine.travel(datetime.fromtimestamp(unix_seconds, tz=UTC), tick=False)


def balance(persona: Persona) -> int:
    return Store.objects.get(pk=persona.store.pk).credit_balance


def used(customer: EndCustomer) -> int:
    return UsagePeriod.objects.get(customer=customer).used


def assert_nothing_debited(persona: Persona) -> None:
    assert balance(persona) == CREDITS
    assert not TryOnEvent.objects.filter(store=persona.store, debited=True).exists()
    assert not UsagePeriod.objects.filter(customer__store=persona.store, used__gt=0).exists()


def assert_refused(
    response: Any, persona: Persona, status: int = 401, code: str = "invalid_session_token"
) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code
    assert body["message"]
    assert body["detail"]
    assert_nothing_debited(persona)
    return body


def assert_accepted(response: Any, persona: Persona) -> None:
    assert response.status_code == 200, response.content
    assert response.json()["end_customer_quota"]["used"] == 1
    assert balance(persona) == CREDITS - 1
    assert used(persona.customer) == 1


@contextmanager
def raises_api_error(code: ErrorCode) -> Iterator[pytest.ExceptionInfo[ApiError]]:
    with pytest.raises(ApiError) as caught:
        yield caught
    assert caught.value.code == code, caught.value.detail


@pytest.fixture
def post_token(owner: Persona, track: Track) -> Any:
    """Track one try-on with the owner's key and this shopper token."""

    def post(token: str) -> Any:
        return track({"api_key": owner.secret, "end_customer_token": token})

    return post


@pytest.fixture
def sibling(owner: Persona) -> EndCustomer:
    """A second shopper of the owner's store, on the same plan."""
    return EndCustomerFactory(store=owner.store, plan=owner.plan, external_id="owner-sibling")


# --- signing keys -----------------------------------------------------------------------------


class TestSigningKeys:
    def test_the_first_key_is_created_on_first_use(self, owner: Persona) -> None:
        assert not SigningKey.objects.exists()
        owner.token()
        key = SigningKey.objects.get()
        assert key.status == SigningKey.Status.ACTIVE
        assert re.fullmatch(r"gv-[0-9a-z]{26}", key.kid)
        assert key.public_jwk["kid"] == key.kid

    def test_later_uses_reuse_the_active_key(self, owner: Persona) -> None:
        first = signing_key_active()
        owner.token()
        assert signing_key_active() == first
        assert SigningKey.objects.count() == 1

    def test_concurrent_first_use_returns_the_key_that_won(self, db: None, monkeypatch: pytest.MonkeyPatch) -> None:
        # Another process commits the first key between our lookup and our insert.
        winner = sessions._generate_signing_key()
        winner.save()
        real_filter = SigningKey.objects.filter
        lookups: list[object] = []

        def lookup_before_the_winner_committed(*args: Any, **kwargs: Any) -> Any:
            lookups.append(kwargs)
            return SigningKey.objects.none() if len(lookups) == 1 else real_filter(*args, **kwargs)

        monkeypatch.setattr(SigningKey.objects, "filter", lookup_before_the_winner_committed)
        assert signing_key_active() == winner
        assert SigningKey.objects.count() == 1

    def test_the_database_refuses_a_second_active_key(self, db: None) -> None:
        signing_key_active()
        with pytest.raises(IntegrityError), transaction.atomic():
            sessions._generate_signing_key().save()
        assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1

    def test_rotation_leaves_exactly_one_active_key(self, db: None) -> None:
        first = signing_key_active()
        second = signing_key_rotate()
        third = signing_key_rotate()
        assert list(SigningKey.objects.filter(status=SigningKey.Status.ACTIVE)) == [third]
        assert {first.kid, second.kid, third.kid} == set(SigningKey.objects.values_list("kid", flat=True))

    def test_the_private_key_matches_the_published_public_key(self, db: None) -> None:
        key = signing_key_active()
        published = RSAAlgorithm.from_jwk(json.dumps(key.public_jwk))
        assert published.public_numbers() == _private_key(key).public_key().public_numbers()  # type: ignore[union-attr]


# --- mint -------------------------------------------------------------------------------------


class TestMint:
    def test_header(self, owner: Persona) -> None:
        header = jwt.get_unverified_header(owner.token())
        assert header == {"alg": "RS256", "kid": signing_key_active().kid, "typ": "JWT"}
        assert header["kid"].startswith("gv-")

    def test_claims(self, owner: Persona) -> None:
        before = int(time.time())
        minted = session_mint(customer=owner.customer, expires_in=600)
        claims = jwt.decode(minted.token, options={"verify_signature": False})
        assert set(claims) == {"sub", "sid", "pid", "iss", "aud", "iat", "exp", "jti"}
        assert claims["sub"] == owner.customer.public_id
        assert claims["sid"] == owner.store.public_id
        assert claims["pid"] == owner.plan.public_id
        assert claims["iss"] == "https://genvoris.org"
        assert claims["aud"] == "genvoris-widget"
        assert before <= claims["iat"] <= int(time.time())
        assert claims["exp"] == claims["iat"] + 600
        assert claims["jti"] == minted.jti
        assert (minted.expires_in, minted.expires_at) == (600, claims["exp"])

    def test_jti_is_customer_issued_at_and_random(self, owner: Persona) -> None:
        minted = [session_mint(customer=owner.customer) for _ in range(3)]
        for session in minted:
            iat = jwt.decode(session.token, options={"verify_signature": False})["iat"]
            assert re.fullmatch(rf"{re.escape(owner.customer.public_id)}-{iat}-[A-Za-z0-9_-]{{8,}}", session.jti)
        assert len({session.jti for session in minted}) == 3

    def test_issuer_follows_the_setting(self, owner: Persona, settings: Any) -> None:
        settings.GENVORIS_JWT_ISSUER = "https://auth.example.test"
        token = owner.token()
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == "https://auth.example.test"
        assert session_verify(token).sub == owner.customer.public_id

    def test_customer_without_plan_has_null_pid(self, owner: Persona) -> None:
        customer = EndCustomerFactory(store=owner.store, plan=None)
        token = session_mint(customer=customer).token
        assert jwt.decode(token, options={"verify_signature": False})["pid"] is None
        assert session_verify(token).pid is None

    @pytest.mark.parametrize(
        ("asked", "granted"),
        [(-5, 60), (0, 60), (1, 60), (59, 60), (60, 60), (900, 900), (3600, 3600), (3601, 3600), (10**9, 3600)],
    )
    def test_expires_in_is_clamped(self, owner: Persona, asked: int, granted: int) -> None:
        minted = session_mint(customer=owner.customer, expires_in=asked)
        claims = jwt.decode(minted.token, options={"verify_signature": False})
        assert minted.expires_in == granted
        assert claims["exp"] - claims["iat"] == granted
        assert minted.expires_at == claims["exp"]

    def test_default_lifetime_is_fifteen_minutes(self, owner: Persona) -> None:
        assert session_mint(customer=owner.customer).expires_in == 900

    @pytest.mark.parametrize("status", [EndCustomer.Status.PAUSED, EndCustomer.Status.CANCELLED])
    def test_inactive_customer_gets_no_session(self, owner: Persona, status: str) -> None:
        EndCustomer.objects.filter(pk=owner.customer.pk).update(status=status)
        owner.customer.refresh_from_db()
        with raises_api_error(ErrorCode.CUSTOMER_INACTIVE) as caught:
            session_mint(customer=owner.customer)
        assert caught.value.status == 403

    def test_a_minted_token_verifies(self, owner: Persona) -> None:
        minted = session_mint(customer=owner.customer)
        claims = session_verify(minted.token)
        assert (claims.sub, claims.sid, claims.pid, claims.jti) == (
            owner.customer.public_id,
            owner.store.public_id,
            owner.plan.public_id,
            minted.jti,
        )
        assert claims.exp == minted.expires_at


# --- token attacks, through the real endpoint ---------------------------------------------------


class TestTokenAttacks:
    """Every forged, stale or misdirected token is 401 (or 403) and costs nothing."""

    def test_a_correctly_crafted_token_is_accepted(self, owner: Persona, post_token: Any) -> None:
        # The control for every test below: our crafting alone is not what gets refused.
        assert_accepted(post_token(sign(claims_for(owner.customer))), owner)

    def test_expired(self, owner: Persona, post_token: Any) -> None:
        minted = session_mint(customer=owner.customer, expires_in=60)
        with at(minted.expires_at + sessions.LEEWAY_SECONDS + 1):
            body = assert_refused(post_token(minted.token), owner)
        assert "expired" in body["detail"]

    def test_expired_exactly_at_the_end_of_the_leeway(self, owner: Persona, post_token: Any) -> None:
        minted = session_mint(customer=owner.customer, expires_in=60)
        with at(minted.expires_at + sessions.LEEWAY_SECONDS):
            assert_refused(post_token(minted.token), owner)

    def test_twenty_seconds_past_exp_is_within_the_leeway(self, owner: Persona, post_token: Any) -> None:
        minted = session_mint(customer=owner.customer, expires_in=60)
        with at(minted.expires_at + 20):
            assert_accepted(post_token(minted.token), owner)

    @pytest.mark.parametrize("claim", ["iat", "nbf"])
    def test_not_yet_valid(self, owner: Persona, post_token: Any, claim: str) -> None:
        future = int(time.time()) + 120
        token = sign(claims_for(owner.customer, **{claim: future}, exp=future + 900))
        body = assert_refused(post_token(token), owner)
        assert "not valid yet" in body["detail"]

    def test_issued_slightly_in_the_future_is_clock_skew(self, owner: Persona, post_token: Any) -> None:
        iat = int(time.time()) + 10
        assert_accepted(post_token(sign(claims_for(owner.customer, iat=iat, exp=iat + 900))), owner)

    @pytest.mark.parametrize("issuer", ["https://evil.example", "https://genvoris.org/", "", None])
    def test_wrong_issuer(self, owner: Persona, post_token: Any, issuer: str | None) -> None:
        assert_refused(post_token(sign(claims_for(owner.customer, iss=issuer))), owner)

    @pytest.mark.parametrize("audience", ["genvoris-api", "", ["other"], None])
    def test_wrong_audience(self, owner: Persona, post_token: Any, audience: Any) -> None:
        assert_refused(post_token(sign(claims_for(owner.customer, aud=audience))), owner)

    def test_unknown_kid(self, owner: Persona, post_token: Any) -> None:
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(claims_for(owner.customer), stranger, algorithm="RS256", headers={"kid": "gv-unknown"})
        body = assert_refused(post_token(token), owner)
        assert "kid" in body["detail"]

    @pytest.mark.parametrize("kid", [MISSING, None, 42, ["gv-x"], {"kid": "gv-x"}, "", "gv-\u0000", "x" * 5000])
    def test_missing_or_malformed_kid(self, owner: Persona, post_token: Any, kid: Any) -> None:
        header = {"alg": "RS256", "typ": "JWT"} if kid is MISSING else {"alg": "RS256", "typ": "JWT", "kid": kid}
        assert_refused(post_token(sign(claims_for(owner.customer), header=header)), owner)

    def test_signed_by_a_stranger_under_a_known_kid(self, owner: Persona, post_token: Any) -> None:
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(
            claims_for(owner.customer), stranger, algorithm="RS256", headers={"kid": signing_key_active().kid}
        )
        assert_refused(post_token(token), owner)

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    def test_unsigned_alg_none(self, owner: Persona, post_token: Any, alg: str) -> None:
        header = {"alg": alg, "kid": signing_key_active().kid, "typ": "JWT"}
        token = f"{b64json(header)}.{b64json(claims_for(owner.customer))}."
        assert_refused(post_token(token), owner)

    def test_alg_none_keeping_a_real_signature(self, owner: Persona, post_token: Any) -> None:
        _, payload, signature = owner.token().split(".")
        header = {"alg": "none", "kid": signing_key_active().kid, "typ": "JWT"}
        assert_refused(post_token(f"{b64json(header)}.{payload}.{signature}"), owner)

    @pytest.mark.parametrize("secret_format", ["pem", "jwk_n", "jwk_json"])
    def test_hs256_signed_with_the_public_key(self, owner: Persona, post_token: Any, secret_format: str) -> None:
        # The classic algorithm confusion: a verifier that trusts `alg` would use the public key
        # as an HMAC secret, and anyone can read the public key from the JWKS.
        key = signing_key_active()
        public_pem = (
            _private_key(key)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        secrets_by_format = {
            "pem": public_pem,
            "jwk_n": key.public_jwk["n"].encode(),
            "jwk_json": json.dumps(key.public_jwk).encode(),
        }
        header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
        signing_input = f"{b64json(header)}.{b64json(claims_for(owner.customer))}"
        mac = hmac.new(secrets_by_format[secret_format], signing_input.encode(), hashlib.sha256).digest()
        assert_refused(post_token(f"{signing_input}.{b64url(mac)}"), owner)

    @pytest.mark.parametrize("algorithm", ["RS384", "RS512"])
    def test_other_rsa_algorithms_with_the_real_key(self, owner: Persona, post_token: Any, algorithm: str) -> None:
        assert_refused(post_token(sign(claims_for(owner.customer), algorithm=algorithm)), owner)

    def test_rs256_signature_under_another_alg_header(self, owner: Persona, post_token: Any) -> None:
        key = signing_key_active()
        header = {"alg": "PS256", "kid": key.kid, "typ": "JWT"}
        signing_input = f"{b64json(header)}.{b64json(claims_for(owner.customer))}".encode()
        signature = _private_key(key).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        assert_refused(post_token(f"{signing_input.decode()}.{b64url(signature)}"), owner)

    @pytest.mark.parametrize("claim", ["sub", "sid", "exp", "jti", "iss"])
    def test_payload_tampered_after_signing(
        self, owner: Persona, outsider: Persona, sibling: EndCustomer, post_token: Any, claim: str
    ) -> None:
        header, payload, signature = segments(owner.token())
        forged_values = {
            "sub": sibling.public_id,
            "sid": outsider.store.public_id,
            "exp": payload["exp"] + 86_400,
            "jti": f"{owner.customer.public_id}-{payload['iat']}-other",
            "iss": "https://genvoris.org ",
        }
        payload[claim] = forged_values[claim]
        assert_refused(post_token(f"{b64json(header)}.{b64json(payload)}.{signature}"), owner)
        assert used(sibling) == 0
        assert used(outsider.customer) == 0

    def test_header_tampered_after_signing(self, owner: Persona, post_token: Any) -> None:
        _, payload, signature = owner.token().split(".")
        forged = b64json({"alg": "RS256", "kid": signing_key_active().kid, "typ": "JWT", "extra": 1})
        assert_refused(post_token(f"{forged}.{payload}.{signature}"), owner)

    def test_signature_of_another_token(self, owner: Persona, sibling: EndCustomer, post_token: Any) -> None:
        header, payload, _ = owner.token().split(".")
        _, _, other_signature = session_mint(customer=sibling).token.split(".")
        assert_refused(post_token(f"{header}.{payload}.{other_signature}"), owner)

    @pytest.mark.parametrize("claim", ["jti", "sub", "sid", "exp", "iat", "iss", "aud"])
    def test_missing_claim(self, owner: Persona, post_token: Any, claim: str) -> None:
        assert_refused(post_token(sign(claims_for(owner.customer, **{claim: MISSING}))), owner)

    @pytest.mark.parametrize("claim", ["jti", "sub", "sid"])
    @pytest.mark.parametrize("value", [None, "", 42, ["x"], {"id": "x"}])
    def test_empty_or_non_string_claim(self, owner: Persona, post_token: Any, claim: str, value: Any) -> None:
        assert_refused(post_token(sign(claims_for(owner.customer, **{claim: value}))), owner)

    @pytest.mark.parametrize("value", ["soon", None, [1], {"at": 1}])
    def test_malformed_exp(self, owner: Persona, post_token: Any, value: Any) -> None:
        assert_refused(post_token(sign(claims_for(owner.customer, exp=value))), owner)

    @pytest.mark.parametrize(
        "token",
        ["a.b.c", "a.b", "....", "eyJhbGciOiJSUzI1NiJ9", "eyJhbGciOiJSUzI1NiJ9.e30.", "é.é.é", "x" * 8192],
    )
    def test_not_a_jwt(self, owner: Persona, post_token: Any, token: str) -> None:
        assert_refused(post_token(token), owner)

    def test_header_that_is_not_an_object(self, owner: Persona, post_token: Any) -> None:
        token = f"{b64json(['RS256'])}.{b64json(claims_for(owner.customer))}.c2ln"
        assert_refused(post_token(token), owner)

    def test_revoked(self, owner: Persona, post_token: Any) -> None:
        minted = session_mint(customer=owner.customer)
        session_revoke(customer=owner.customer, jti=minted.jti)
        body = assert_refused(post_token(minted.token), owner)
        assert "revoked" in body["detail"]

    def test_revoking_one_session_leaves_the_others(self, owner: Persona, post_token: Any) -> None:
        revoked, kept = session_mint(customer=owner.customer), session_mint(customer=owner.customer)
        session_revoke(customer=owner.customer, jti=revoked.jti)
        assert_accepted(post_token(kept.token), owner)

    def test_customer_deleted(self, owner: Persona, post_token: Any) -> None:
        token = owner.token()
        EndCustomer.objects.filter(pk=owner.customer.pk).delete()
        body = assert_refused(post_token(token), owner)
        assert "does not exist" in body["detail"]

    def test_token_of_another_store(self, owner: Persona, outsider: Persona, post_token: Any) -> None:
        assert_refused(post_token(outsider.token()), owner, status=403, code="token_store_mismatch")
        assert_nothing_debited(outsider)

    def test_another_stores_customer_under_this_stores_sid(
        self, owner: Persona, outsider: Persona, post_token: Any
    ) -> None:
        # Genuinely signed, sid matches the key's store, but the sub lives in another store.
        token = sign(claims_for(outsider.customer, sid=owner.store.public_id))
        body = assert_refused(post_token(token), owner)
        assert "does not exist" in body["detail"]
        assert_nothing_debited(outsider)

    def test_sid_of_a_store_that_does_not_exist(self, owner: Persona, post_token: Any) -> None:
        token = sign(claims_for(owner.customer, sid="st_00000000000000000000000000"))
        assert_refused(post_token(token), owner, status=403, code="token_store_mismatch")

    def test_refusals_are_not_recorded_as_events(self, owner: Persona, post_token: Any) -> None:
        post_token(sign(claims_for(owner.customer, aud="elsewhere")))
        assert not TryOnEvent.objects.exists()


# --- rotation ---------------------------------------------------------------------------------


def jwks_kids(client: Client) -> list[str]:
    return [key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]]


class TestRotation:
    def test_new_tokens_carry_the_new_kid(self, owner: Persona) -> None:
        old = signing_key_active()
        new = signing_key_rotate()
        assert new.kid != old.kid
        assert jwt.get_unverified_header(owner.token())["kid"] == new.kid

    def test_old_tokens_keep_verifying(self, owner: Persona, post_token: Any) -> None:
        old_token = owner.token()
        old = signing_key_active()
        signing_key_rotate()
        old.refresh_from_db()
        assert old.status == SigningKey.Status.RETIRING
        assert session_verify(old_token).sub == owner.customer.public_id
        assert_accepted(post_token(old_token), owner)

    def test_jwks_lists_both_keys_newest_first(self, owner: Persona, client: Client) -> None:
        old = signing_key_active()
        new = signing_key_rotate()
        assert jwks_kids(client) == [new.kid, old.kid]

    def test_a_longest_lived_token_outlives_its_keys_rotation(self, owner: Persona, post_token: Any) -> None:
        # Minted with the maximum lifetime just before the rotation: still good at the last
        # second of its leeway, so rotating never cuts a valid session short.
        minted = session_mint(customer=owner.customer, expires_in=3600)
        signing_key_rotate()
        with at(minted.expires_at + 29):
            assert_accepted(post_token(minted.token), owner)

    def test_past_retire_after_the_old_key_no_longer_verifies(
        self, owner: Persona, post_token: Any, client: Client
    ) -> None:
        old = signing_key_active()
        old_token = owner.token()
        assert session_verify(old_token)  # warm the per-process key cache with the old key
        new = signing_key_rotate()
        old.refresh_from_db()
        assert old.retire_after is not None
        session_verify(old_token)  # and again, now that it is retiring
        with time_machine.travel(old.retire_after + timedelta(seconds=1), tick=False):
            # A token the old key signed that has not expired on its own: only the key's
            # retirement can refuse it.
            late = sign(claims_for(owner.customer), key=old)
            body = assert_refused(post_token(late), owner)
            assert "kid" in body["detail"]
            assert jwks_kids(client) == [new.kid]
            assert_accepted(post_token(owner.token()), owner)

    def test_retirement_also_holds_with_a_cold_cache(self, owner: Persona, post_token: Any) -> None:
        old = signing_key_active()
        signing_key_rotate()
        old.refresh_from_db()
        sessions._public_keys.clear()
        with time_machine.travel(old.retire_after + timedelta(seconds=1), tick=False):
            assert_refused(post_token(sign(claims_for(owner.customer), key=old)), owner)

    def test_the_old_key_verifies_until_the_last_second(self, owner: Persona) -> None:
        old = signing_key_active()
        signing_key_rotate()
        old.refresh_from_db()
        with time_machine.travel(old.retire_after - timedelta(seconds=1), tick=False):
            assert session_verify(sign(claims_for(owner.customer), key=old)).sub == owner.customer.public_id
            assert old.kid in [key["kid"] for key in jwks()["keys"]]

    def test_the_next_rotation_marks_past_keys_retired(self, db: None) -> None:
        first = signing_key_active()
        signing_key_rotate()
        first.refresh_from_db()
        with time_machine.travel(first.retire_after + timedelta(seconds=1), tick=False):
            second_rotation = signing_key_rotate()
        statuses = dict(SigningKey.objects.values_list("kid", "status"))
        assert statuses[first.kid] == SigningKey.Status.RETIRED
        assert statuses[second_rotation.kid] == SigningKey.Status.ACTIVE
        assert list(statuses.values()).count(SigningKey.Status.RETIRING) == 1

    def test_a_retired_key_never_verifies_again(self, owner: Persona) -> None:
        old = signing_key_active()
        signing_key_rotate()
        SigningKey.objects.filter(pk=old.pk).update(status=SigningKey.Status.RETIRED)
        sessions._public_keys.clear()
        with raises_api_error(ErrorCode.INVALID_SESSION_TOKEN):
            session_verify(sign(claims_for(owner.customer), key=old))

    def test_command_prints_the_new_kid(self, owner: Persona) -> None:
        old = signing_key_active()
        out = io.StringIO()
        call_command("rotate_signing_key", "--json", stdout=out)
        printed = json.loads(out.getvalue())
        assert printed == {"kid": signing_key_active().kid}
        assert printed["kid"] != old.kid
        assert SigningKey.objects.get(kid=old.kid).status == SigningKey.Status.RETIRING
        assert jwt.get_unverified_header(owner.token())["kid"] == printed["kid"]


# --- JWKS endpoint ----------------------------------------------------------------------------


class TestJwks:
    def test_shape_and_caching(self, db: None, client: Client) -> None:
        response = client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")
        cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"public", "max-age=3600"} <= cache_control
        (key,) = response.json()["keys"]
        assert key["kty"] == "RSA"
        assert (key["use"], key["alg"]) == ("sig", "RS256")
        assert key["kid"] == signing_key_active().kid
        assert key["n"]
        assert key["e"] == "AQAB"

    def test_creates_the_first_key_on_an_empty_database(self, db: None, client: Client) -> None:
        assert not SigningKey.objects.exists()
        assert len(client.get("/.well-known/jwks.json").json()["keys"]) == 1
        assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1

    def test_never_publishes_private_members(self, db: None, client: Client) -> None:
        signing_key_active()
        signing_key_rotate()
        response = client.get("/.well-known/jwks.json")
        for key in response.json()["keys"]:
            assert not PRIVATE_JWK_MEMBERS & set(key), key
        assert b"PRIVATE KEY" not in response.content

    def test_keys_verify_a_minted_token(self, owner: Persona, client: Client) -> None:
        token = owner.token()
        key_set = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json())
        signing = key_set[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, signing.key, algorithms=["RS256"], audience="genvoris-widget")
        assert claims["sub"] == owner.customer.public_id

    def test_keys_verify_tokens_of_both_keys_during_rotation(self, owner: Persona, client: Client) -> None:
        old_token = owner.token()
        signing_key_rotate()
        new_token = owner.token()
        key_set = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json())
        for token in (old_token, new_token):
            signing = key_set[jwt.get_unverified_header(token)["kid"]]
            assert jwt.decode(token, signing.key, algorithms=["RS256"], audience="genvoris-widget")

    def test_needs_no_credentials(self, db: None, client: Client) -> None:
        assert client.get("/.well-known/jwks.json", HTTP_AUTHORIZATION="Bearer nonsense").status_code == 200


# --- revoke and prune -------------------------------------------------------------------------


class TestMintRecords:
    def test_a_mint_records_the_session_and_never_the_token(self, owner: Persona) -> None:
        minted = session_mint(customer=owner.customer, expires_in=600)
        claims = jwt.decode(minted.token, options={"verify_signature": False})
        row = ShopperSession.objects.get()
        assert (row.jti, row.customer, row.revoked_at) == (minted.jti, owner.customer, None)
        assert (row.issued_at.timestamp(), row.expires_at.timestamp()) == (claims["iat"], claims["exp"])
        stored = [str(v) for v in ShopperSession.objects.values_list().get()]
        assert not any(minted.token in value or minted.token.split(".")[2] in value for value in stored)

    def test_each_mint_is_its_own_session(self, owner: Persona) -> None:
        minted = {session_mint(customer=owner.customer).jti for _ in range(3)}
        assert set(ShopperSession.objects.values_list("jti", flat=True)) == minted

    def test_an_inactive_customer_gets_no_row(self, owner: Persona) -> None:
        EndCustomer.objects.filter(pk=owner.customer.pk).update(status="PAUSED")
        owner.customer.refresh_from_db()
        with raises_api_error(ErrorCode.CUSTOMER_INACTIVE):
            session_mint(customer=owner.customer)
        assert not ShopperSession.objects.exists()


class TestRevoke:
    def test_revoke_marks_the_minted_session(self, owner: Persona) -> None:
        minted = session_mint(customer=owner.customer)
        when = datetime(2030, 1, 1, tzinfo=UTC)
        revoked = session_revoke(customer=owner.customer, jti=minted.jti, now=when)
        assert (revoked.jti, revoked.customer, revoked.revoked) == (minted.jti, owner.customer, True)
        assert ShopperSession.objects.get().revoked_at == when
        # The row lives as long as the token itself (plus the leeway, see the prune tests).
        assert revoked.expires_at.timestamp() == minted.expires_at

    def test_revoking_twice_is_the_same_as_once(self, owner: Persona) -> None:
        minted = session_mint(customer=owner.customer)
        first = session_revoke(customer=owner.customer, jti=minted.jti)
        second = session_revoke(customer=owner.customer, jti=minted.jti)
        assert (first.pk, first.revoked_at) == (second.pk, second.revoked_at)
        assert ShopperSession.objects.get().revoked_at == first.revoked_at

    def test_a_jti_of_another_customer_is_not_found(self, owner: Persona, sibling: EndCustomer) -> None:
        minted = session_mint(customer=owner.customer)
        with raises_api_error(ErrorCode.NOT_FOUND) as caught:
            session_revoke(customer=sibling, jti=minted.jti)
        assert caught.value.status == 404
        assert not ShopperSession.objects.filter(revoked_at__isnull=False).exists()
        assert session_verify(minted.token).jti == minted.jti

    def test_a_jti_of_another_stores_customer_is_not_found(self, owner: Persona, outsider: Persona) -> None:
        minted = session_mint(customer=outsider.customer)
        with raises_api_error(ErrorCode.NOT_FOUND):
            session_revoke(customer=owner.customer, jti=minted.jti)
        assert not ShopperSession.objects.filter(revoked_at__isnull=False).exists()

    def test_a_well_formed_jti_never_minted_is_not_found_and_writes_nothing(self, owner: Persona) -> None:
        """The first release stored a row for any well-formed jti: unbounded rows from made-up ids."""
        for i in range(5):
            with raises_api_error(ErrorCode.NOT_FOUND):
                session_revoke(customer=owner.customer, jti=f"{owner.customer.public_id}-{int(time.time())}-made{i}")
        assert not ShopperSession.objects.exists()

    @pytest.mark.parametrize(
        "tail",
        [
            "",
            "-",
            "abc-x",
            "123",
            "123-",
            "-x",
            "12a-x",
            "1234567890123-x",
            "²-x",  # a digit to str.isdigit, not to int()
            "١٢٣-x",  # Arabic-Indic digits
            "999999999999-x",  # past year 9999
            "253402300799-x",  # the last second of year 9999
            "123-\u0000",  # PostgreSQL text cannot hold NUL
            "123-x\u0000y",
            "123-" + "x" * 300,
        ],
    )
    def test_malformed_jti_is_not_found(self, owner: Persona, tail: str) -> None:
        with raises_api_error(ErrorCode.NOT_FOUND):
            session_revoke(customer=owner.customer, jti=f"{owner.customer.public_id}-{tail}")
        assert not ShopperSession.objects.exists()

    @pytest.mark.parametrize("jti", ["", "garbage", "ec_x-123-y", " ", "\u0000"])
    def test_jti_without_the_customer_prefix_is_not_found(self, owner: Persona, jti: str) -> None:
        with raises_api_error(ErrorCode.NOT_FOUND):
            session_revoke(customer=owner.customer, jti=jti)


class TestPrune:
    def test_prune_deletes_only_rows_past_their_expiry_and_the_leeway(self, owner: Persona) -> None:
        now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
        leeway = timedelta(seconds=sessions.LEEWAY_SECONDS)
        for name, expires_at in [
            ("long-gone", now - timedelta(days=3)),
            ("just-gone", now - leeway - timedelta(seconds=1)),
            ("in-the-leeway", now - leeway),
            ("still-live", now + timedelta(seconds=1)),
        ]:
            ShopperSession.objects.create(
                jti=name, customer=owner.customer, issued_at=expires_at - timedelta(minutes=15), expires_at=expires_at
            )
        assert sessions_prune(now=now) == 2
        assert set(ShopperSession.objects.values_list("jti", flat=True)) == {"in-the-leeway", "still-live"}
        assert sessions_prune(now=now) == 0

    def test_a_pruned_token_stays_refused_because_it_has_expired(self, owner: Persona, post_token: Any) -> None:
        minted = session_mint(customer=owner.customer, expires_in=3600)
        session_revoke(customer=owner.customer, jti=minted.jti)
        with at(minted.expires_at + sessions.LEEWAY_SECONDS + 1):
            assert sessions_prune() == 1
            assert_refused(post_token(minted.token), owner)

    def test_prune_keeps_a_revocation_while_its_token_can_still_verify(self, owner: Persona) -> None:
        minted = session_mint(customer=owner.customer, expires_in=3600)
        session_revoke(customer=owner.customer, jti=minted.jti)
        with at(minted.expires_at + sessions.LEEWAY_SECONDS - 1):
            assert sessions_prune() == 0
            with raises_api_error(ErrorCode.INVALID_SESSION_TOKEN) as caught:
                session_verify(minted.token)
            assert "revoked" in caught.value.detail


def test_published_keys_carry_use_but_not_key_ops(db: None) -> None:
    from quotas.sessions import jwks

    assert all("key_ops" not in key and key["use"] == "sig" for key in jwks()["keys"])
