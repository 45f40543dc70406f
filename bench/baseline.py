"""The raw-SQL baseline for bench/track.py: the track endpoint's essential work and nothing else.

The same caller check, key lookup by SHA-256 hash, JWT verification and debit transaction in the
product's lock order (usage row → event insert → store row → pack row), written as plain SQL in a
bare Django view. What the product costs on top of this is the price of its layers.
"""

import hashlib
import hmac
import json
from functools import cache
from typing import Any

import jwt
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from jwt.algorithms import RSAAlgorithm

from genvoris.ids import new_id

KEY_SQL = """
    SELECT k.id, s.id, s.public_id FROM stores_apikey k JOIN stores_store s ON s.id = k.store_id
    WHERE k.key_hash = %s AND k.active AND s.status = 'active'"""
CUSTOMER_SQL = """
    SELECT c.id, u.id FROM quotas_endcustomer c
    JOIN quotas_usageperiod u ON u.customer_id = c.id AND u.period_start = c.period_start
    WHERE c.public_id = %s AND c.store_id = %s AND c.status = 'ACTIVE'"""
USAGE_SQL = 'UPDATE quotas_usageperiod SET used = used + 1 WHERE id = %s AND used < "limit" RETURNING used, "limit"'
EVENT_SQL = """
    INSERT INTO tryon_tryonevent (public_id, store_id, api_key_id, end_customer_id, product_type, product_title,
        page_url, origin, variation_count, generation_time_ms, success, outcome, reason, debited, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true, 'debited', '', true, now())"""
STORE_SQL = (
    "UPDATE stores_store SET credit_balance = credit_balance - 1 WHERE id = %s AND credit_balance >= 1 "
    "RETURNING credit_balance"
)
PACK_SQL = """
    UPDATE stores_creditpack SET remaining = remaining - 1 WHERE id = (
        SELECT id FROM stores_creditpack
        WHERE store_id = %s AND remaining > 0 AND expired_at IS NULL AND expires_at > now()
        ORDER BY expires_at, id LIMIT 1)"""


class Refused(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@csrf_exempt
@require_POST
def baseline_track(request: HttpRequest) -> JsonResponse:
    try:
        return JsonResponse(_track(request))
    except Refused as refused:
        return JsonResponse({"error": refused.error}, status=refused.status)


def _track(request: HttpRequest) -> dict[str, Any]:
    secret = request.headers.get("x-internal-secret", "").encode()
    if not any([hmac.compare_digest(secret, s.encode()) for s in settings.TRYON_INTERNAL_SECRET]):
        raise Refused(401, "unauthorized")
    try:
        body = json.loads(request.body)
    except ValueError:
        raise Refused(400, "invalid_body") from None
    with connection.cursor() as cursor:
        cursor.execute(KEY_SQL, [hashlib.sha256(str(body.get("api_key")).encode()).hexdigest()])
        row = cursor.fetchone()
        if row is None:
            raise Refused(401, "invalid_key")
        key_id, store_id, store_public_id = row
        customer = _customer(cursor, body.get("end_customer_token"), store_id, store_public_id)
        with transaction.atomic():
            return _debit(cursor, body, key_id, store_id, customer)


def _customer(cursor: CursorWrapper, token: str | None, store_id: int, store_public_id: str) -> tuple[int, int] | None:
    """(customer id, usage period id) of a verified session token, or None without one."""
    if not token:
        return None
    try:
        key = _public_key(jwt.get_unverified_header(token)["kid"])
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=settings.GENVORIS_JWT_AUDIENCE,
            issuer=settings.GENVORIS_JWT_ISSUER,
        )
    except (jwt.PyJWTError, LookupError):
        raise Refused(401, "invalid_session_token") from None
    if claims.get("sid") != store_public_id:
        raise Refused(403, "token_store_mismatch")
    cursor.execute(CUSTOMER_SQL, [claims.get("sub"), store_id])
    row = cursor.fetchone()
    if row is None:
        raise Refused(401, "invalid_session_token")
    return row[0], row[1]


@cache
def _public_key(kid: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute("SELECT public_jwk FROM quotas_signingkey WHERE kid = %s AND status <> 'retired'", [kid])
        row = cursor.fetchone()
    if row is None:
        raise LookupError(kid)
    return RSAAlgorithm.from_jwk(row[0])


def _debit(
    cursor: CursorWrapper, body: dict[str, Any], key_id: int, store_id: int, customer: tuple[int, int] | None
) -> dict[str, Any]:
    """Runs in one transaction; a Refused raised here rolls every statement back."""
    answer: dict[str, Any] = {"success": True, "variation_count": body.get("variation_count", 1)}
    if customer is not None:
        cursor.execute(USAGE_SQL, [customer[1]])
        usage = cursor.fetchone()
        if usage is None:
            raise Refused(402, "end_customer_quota")
        answer["end_customer_quota"] = {"used": usage[0], "limit": usage[1], "remaining": usage[1] - usage[0]}
    cursor.execute(
        EVENT_SQL,
        [
            new_id("tro"),
            store_id,
            key_id,
            customer[0] if customer else None,
            body.get("product_type", "apparel"),
            body.get("product_title", ""),
            body.get("page_url", ""),
            body.get("origin", ""),
            answer["variation_count"],
            body.get("generation_time_ms"),
        ],
    )
    cursor.execute(STORE_SQL, [store_id])
    balance = cursor.fetchone()
    cursor.execute(PACK_SQL, [store_id])
    if balance is None or cursor.rowcount != 1:
        raise Refused(402, "credit_limit_reached")
    answer["remaining_credits"] = balance[0]
    return answer
