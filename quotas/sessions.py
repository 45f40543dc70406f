"""Session JWTs for shoppers (SPEC §5): RS256 signing keys, mint, verify, revoke, JWKS, rotation."""

import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from jwt.algorithms import RSAAlgorithm

from genvoris.errors import ApiError, ErrorCode
from quotas.models import EndCustomer, ShopperSession, SigningKey

MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 3600
DEFAULT_EXPIRES_IN = 900
LEEWAY_SECONDS = 30
# A retiring key verifies until every token it could have signed has expired.
RETIRE_GRACE = timedelta(seconds=MAX_EXPIRES_IN + LEEWAY_SECONDS)
_KEY_CACHE_SECONDS = 60
_KEY_RELOAD_MIN_SECONDS = 1
_REQUIRED_CLAIMS = ("sub", "sid", "jti")
# Our kids are `gv-` and a lower-case ULID. The header is unverified input: anything else is
# refused before it reaches the database (PostgreSQL rejects a NUL in a string with an error).
_KID = re.compile(r"gv-[0-9a-z]{26}")


@dataclass(frozen=True)
class SessionClaims:
    sub: str
    sid: str
    pid: str | None
    jti: str
    iat: int
    exp: int


@dataclass(frozen=True)
class MintedSession:
    token: str
    jti: str
    expires_in: int
    expires_at: int


def _invalid(detail: str, cause: str) -> ApiError:
    return ApiError(
        ErrorCode.INVALID_SESSION_TOKEN, "The end-customer session token is not valid.", detail=detail, cause=cause
    )


# --- signing keys ---------------------------------------------------------------------------


def _generate_signing_key() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = SigningKey(private_key_pem=pem, status=SigningKey.Status.ACTIVE)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.pop("key_ops", None)  # RFC 7517 §4.3: key_ops and use should not appear together
    key.public_jwk = {**jwk, "kid": key.kid, "use": "sig", "alg": "RS256"}
    return key


def signing_key_active() -> SigningKey:
    """The key that signs new tokens, created on first use."""
    key = SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            key = _generate_signing_key()
            key.save()
        _public_keys.clear()
        return key
    except IntegrityError:  # another process created the first key at the same moment
        return SigningKey.objects.get(status=SigningKey.Status.ACTIVE)


def signing_key_loads() -> None:
    """Raise unless the active signing key (if there is one yet) loads: what readiness asks. With
    none, the first mint makes it, so a fresh deployment is ready without a write on a probe."""
    key = SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).first()
    if key is not None:
        _private_key(key)


@transaction.atomic(durable=True)
def signing_key_rotate(*, now: datetime | None = None) -> SigningKey:
    """Publish a new active key; the previous one keeps verifying until its tokens have expired."""
    now = now or timezone.now()
    SigningKey.objects.filter(status=SigningKey.Status.RETIRING, retire_after__lte=now).update(
        status=SigningKey.Status.RETIRED
    )
    SigningKey.objects.select_for_update().filter(status=SigningKey.Status.ACTIVE).update(
        status=SigningKey.Status.RETIRING, retire_after=now + RETIRE_GRACE
    )
    key = _generate_signing_key()
    key.save()
    _public_keys.clear()
    return key


def _verifying_keys(now: datetime) -> "Q":
    return Q(status=SigningKey.Status.ACTIVE) | Q(status=SigningKey.Status.RETIRING, retire_after__gt=now)


def jwks(*, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """RFC 7517 key set of every key that may still verify a token."""
    now = now or timezone.now()
    signing_key_active()  # the first key is made on first use, so the set is never empty
    keys = SigningKey.objects.filter(_verifying_keys(now)).order_by("-created_at")
    return {"keys": [key.public_jwk for key in keys]}


class _PublicKeyCache:
    """kid → parsed public key of every key that may verify, loaded together and kept a minute.

    Verifying must not parse a PEM or query keys per request. A kid the cache lacks (a key that
    another process just rotated in) reloads it, but at most once a second, so a stranger's
    made-up kids cost no query.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[Any, datetime | None]] = {}
        self._loaded_at = -math.inf

    def get(self, kid: str, now: datetime) -> Any | None:
        age = time.monotonic() - self._loaded_at
        if age > _KEY_CACHE_SECONDS or (kid not in self._keys and age > _KEY_RELOAD_MIN_SECONDS):
            self._reload()
        entry = self._keys.get(kid)
        if entry is None:
            return None
        public_key, usable_until = entry
        return public_key if usable_until is None or now < usable_until else None

    def _reload(self) -> None:
        rows = SigningKey.objects.exclude(status=SigningKey.Status.RETIRED).values_list(
            "kid", "public_jwk", "status", "retire_after"
        )
        keys = {}
        for kid, jwk, status, retire_after in rows:
            parsed = self._keys.get(kid, (None, None))[0] or RSAAlgorithm.from_jwk(json.dumps(jwk))
            keys[kid] = (parsed, retire_after if status == SigningKey.Status.RETIRING else None)
        with self._lock:
            self._keys, self._loaded_at = keys, time.monotonic()

    def clear(self) -> None:
        with self._lock:
            self._keys, self._loaded_at = {}, -math.inf


_public_keys = _PublicKeyCache()
_private_keys: dict[str, Any] = {}


def _private_key(key: SigningKey) -> Any:
    if key.kid not in _private_keys:
        _private_keys[key.kid] = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    return _private_keys[key.kid]


# --- tokens ---------------------------------------------------------------------------------


def clamp_expires_in(expires_in: int) -> int:
    return min(max(expires_in, MIN_EXPIRES_IN), MAX_EXPIRES_IN)


def session_mint(*, customer: EndCustomer, expires_in: int = DEFAULT_EXPIRES_IN) -> MintedSession:
    if customer.status != EndCustomer.Status.ACTIVE:
        raise ApiError(
            ErrorCode.CUSTOMER_INACTIVE,
            f"The customer is {customer.status.lower()}; sessions can be minted for active customers only.",
        )
    expires_in = clamp_expires_in(expires_in)
    key = signing_key_active()
    iat = int(time.time())
    jti = f"{customer.public_id}-{iat}-{secrets.token_urlsafe(9)}"
    claims = {
        "sub": customer.public_id,
        "sid": customer.store.public_id,
        "pid": customer.plan.public_id if customer.plan else None,
        "iss": settings.GENVORIS_JWT_ISSUER,
        "aud": settings.GENVORIS_JWT_AUDIENCE,
        "iat": iat,
        "exp": iat + expires_in,
        "jti": jti,
    }
    token = jwt.encode(claims, _private_key(key), algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})
    # Recorded before the token is handed out, so every token in a shopper's hands has its row
    # (listed, revocable); the token itself is never stored.
    ShopperSession.objects.create(
        jti=jti,
        customer=customer,
        issued_at=datetime.fromtimestamp(iat, tz=UTC),
        expires_at=datetime.fromtimestamp(iat + expires_in, tz=UTC),
    )
    return MintedSession(token=token, jti=jti, expires_in=expires_in, expires_at=iat + expires_in)


def session_verify(token: str, *, now: datetime | None = None) -> SessionClaims:
    """Verify a session token (SPEC §3 step 5), revocation included."""
    claims = session_claims(token, now=now or timezone.now())
    if ShopperSession.objects.filter(jti=claims.jti, revoked_at__isnull=False).exists():
        raise session_revoked()
    return claims


def session_claims(token: str, *, now: datetime) -> SessionClaims:
    """Step 5 without the revocation check, which the track service makes in its customer query.

    The `alg` header is never trusted: RS256 only. No database access once the keys are cached.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _invalid("The token is not a well-formed JWT.", "malformed") from None
    kid = header.get("kid")
    public_key = _public_keys.get(kid, now) if isinstance(kid, str) and _KID.fullmatch(kid) else None
    if public_key is None:
        raise _invalid("The token was not signed by a known Genvoris key (unknown kid).", "unknown_key")
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            audience=settings.GENVORIS_JWT_AUDIENCE,
            issuer=settings.GENVORIS_JWT_ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", *_REQUIRED_CLAIMS]},
        )
    except jwt.ExpiredSignatureError:
        raise _invalid("The token has expired.", "expired") from None
    except jwt.ImmatureSignatureError:
        raise _invalid("The token is not valid yet.", "not_yet_valid") from None
    except jwt.PyJWTError as exc:
        raise _invalid(f"The token failed verification: {exc}.", "failed_verification") from None
    if not all(isinstance(claims.get(name), str) and claims[name] for name in _REQUIRED_CLAIMS):
        raise _invalid("The token lacks sub, sid or jti.", "missing_claims")
    pid = claims.get("pid")
    return SessionClaims(
        sub=claims["sub"],
        sid=claims["sid"],
        pid=pid if isinstance(pid, str) else None,
        jti=claims["jti"],
        iat=int(claims["iat"]),
        exp=int(claims["exp"]),
    )


def session_revoked() -> ApiError:
    return _invalid("The token has been revoked.", "revoked")


def session_revoke(*, customer: EndCustomer, jti: str, now: datetime | None = None) -> ShopperSession:
    """Revoke one minted token of this customer; revoking twice is the same as once.

    A jti that was never minted for this customer is 404 and writes nothing: no row can be made
    from a made-up id.
    """
    session = (
        ShopperSession.objects.filter(customer=customer, jti=jti).first()
        if jti_issued_at(customer.public_id, jti) is not None
        else None
    )
    if session is None:
        raise ApiError(ErrorCode.NOT_FOUND, "No session with that jti for this customer.")
    if session.revoked_at is None:
        revoked_at = now or timezone.now()
        # Conditional, so two revocations racing keep the first one's time.
        ShopperSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(revoked_at=revoked_at)
        session.revoked_at = revoked_at
    return session


# After `{ec id}-`: ASCII digits (str.isdigit also takes "²", which int() refuses), ten at most so
# the date plus the grace stays in datetime's range, then the minted random part's URL-safe
# alphabet (anything else, NUL for one, is no jti of ours and PostgreSQL text cannot even hold it).
JTI_TAIL_PATTERN = "([0-9]{1,10})-([A-Za-z0-9_-]{1,64})"
_JTI_TAIL = re.compile(JTI_TAIL_PATTERN)


def jti_issued_at(customer_public_id: str, jti: str) -> datetime | None:
    """jti is `{ec id}-{iat}-{random}`, so it names its customer and when it was issued; None
    when it is no jti of that customer's shape (it then names no session, unasked)."""
    prefix = f"{customer_public_id}-"
    match = _JTI_TAIL.fullmatch(jti[len(prefix) :]) if jti.startswith(prefix) else None
    return datetime.fromtimestamp(int(match[1]), tz=UTC) if match else None


def sessions_prune(*, now: datetime | None = None) -> int:
    """Delete the sessions whose token can no longer verify (its exp plus the leeway has passed):
    a revocation is kept exactly as long as it can matter."""
    cutoff = (now or timezone.now()) - timedelta(seconds=LEEWAY_SECONDS)
    deleted, _ = ShopperSession.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
