import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q

from genvoris.errors import ApiError, ErrorCode
from genvoris.ids import is_public_id, storable
from genvoris.pagination import cursor_decode, cursor_encode
from quotas.models import EndCustomer, Plan, ShopperSession, UsagePeriod
from quotas.periods import window_at
from quotas.sessions import MAX_EXPIRES_IN, jti_issued_at
from stores.models import Store


def _not_found(what: str) -> ApiError:
    return ApiError(ErrorCode.NOT_FOUND, f"No such {what}.")


def plans_of(store: Store, *, include_inactive: bool) -> list[Plan]:
    plans = Plan.objects.filter(store=store).order_by("created_at", "id")
    return list(plans if include_inactive else plans.filter(active=True))


def plan_of(store: Store, public_id: str) -> Plan:
    """The store's plan; another store's plan is indistinguishable from none (404), and so is text
    that is no plan id at all (a NUL, which PostgreSQL cannot even compare), unasked."""
    plan = Plan.objects.filter(store=store, public_id=public_id).first() if is_public_id(public_id) else None
    if plan is None:
        raise _not_found("plan")
    return plan


def end_customer_of(store: Store, id_or_external_id: str) -> EndCustomer:
    """By `ec_` id, else by the merchant's externalId; text no column can hold names nobody."""
    if not storable(id_or_external_id):
        raise _not_found("customer")
    customers = EndCustomer.objects.select_related("plan").filter(store=store)
    customer = customers.filter(public_id=id_or_external_id).first() if id_or_external_id.startswith("ec_") else None
    customer = customer or customers.filter(external_id=id_or_external_id).first()
    if customer is None:
        raise _not_found("customer")
    return customer


@dataclass(frozen=True)
class Page:
    customers: list[EndCustomer]
    next_cursor: str | None


# What _encode_cursor makes of an `ec_` id: its 29 bytes in unpadded URL-safe base64, the first
# three ("ec_") always "ZWNf". For the OpenAPI schema; _decode_cursor is the check.
CURSOR_PATTERN = "ZWNf[A-Za-z0-9_-]{35}"


def end_customers_page(store: Store, *, status: str | None, limit: int, cursor: str | None) -> Page:
    """Keyset pagination on the immutable, unique public id: a walk sees every customer that
    existed when it started exactly once, however many are inserted meanwhile."""
    customers = EndCustomer.objects.filter(store=store).order_by("public_id")
    if status:
        customers = customers.filter(status=status)
    if cursor:
        customers = customers.filter(public_id__gt=cursor_decode(cursor, "ec"))
    rows = list(customers[: limit + 1])
    next_cursor = cursor_encode(rows[limit - 1].public_id) if len(rows) > limit else None
    return Page(customers=rows[:limit], next_cursor=next_cursor)


def usage_periods_of(customer: EndCustomer, *, count: int) -> list[UsagePeriod]:
    return list(UsagePeriod.objects.filter(customer=customer).order_by("-period_start")[:count])


@dataclass(frozen=True)
class CurrentUsage:
    period_start: datetime
    period_end: datetime
    used: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def current_usage(customer: EndCustomer, now: datetime) -> CurrentUsage:
    """The period holding `now`, computed without writing: a period not opened yet has used 0."""
    start, end = window_at(customer.period_start, customer.period_end, now)
    period = UsagePeriod.objects.filter(customer=customer, period_start=start).first()
    if period is not None:
        return CurrentUsage(start, end, period.used, period.limit)
    return CurrentUsage(start, end, 0, customer.plan.monthly_try_ons if customer.plan else 0)


def plans_with_customer_counts(store: Store) -> list[Plan]:
    """Active plans first, by name; each with `customer_count`."""
    plans = Plan.objects.filter(store=store).annotate(customer_count=Count("customers"))
    return list(plans.order_by("-active", "name", "id"))


@dataclass(frozen=True)
class TrackShopper:
    """What the track service needs of a session token's customer, read in one statement."""

    revoked: bool
    customer_id: int | None  # None: no such customer in this store
    status: str = ""
    has_plan: bool = False
    period_ended: bool = False  # the window has run out: roll it before counting
    period_id: int | None = None  # None: no period open for the current window
    limit: int = 0
    used: int = 0


# Revocation is read whatever the customer lookup finds: SPEC §3 checks it (step 5) before the
# token's store (step 6) and its customer (step 7). `limit` is a keyword in SQL, hence quoted.
_TRACK_SHOPPER_SQL = """
    SELECT EXISTS (SELECT 1 FROM {session} r WHERE r.jti = %s AND r.revoked_at IS NOT NULL),
           c.id, c.status, c.plan_id IS NOT NULL, c.period_end <= %s, u.id, u.{limit}, u.used
    FROM (SELECT 1) AS one
    LEFT JOIN {customer} c ON c.public_id = %s AND c.store_id = %s
    LEFT JOIN {period} u ON u.customer_id = c.id AND u.period_start = c.period_start
"""


def track_shopper(*, jti: str, customer_public_id: str, store_id: int, now: datetime) -> TrackShopper:
    """The token's revocation, its customer, the customer's current period and its figures."""
    sql = _TRACK_SHOPPER_SQL.format(
        session=ShopperSession._meta.db_table,
        customer=EndCustomer._meta.db_table,
        period=UsagePeriod._meta.db_table,
        limit=connection.ops.quote_name("limit"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [jti, connection.ops.adapt_datetimefield_value(now), customer_public_id, store_id])
        revoked, customer_id, status, has_plan, ended, period_id, limit, used = cursor.fetchone()
    if customer_id is None:
        return TrackShopper(revoked=bool(revoked), customer_id=None)
    return TrackShopper(
        revoked=bool(revoked),
        customer_id=customer_id,
        status=status,
        has_plan=bool(has_plan),
        period_ended=bool(ended),
        period_id=period_id,
        limit=limit or 0,
        used=used or 0,
    )


# --- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPage:
    sessions: list[ShopperSession]
    next_cursor: str | None


def sessions_page(customer: EndCustomer, *, now: datetime, limit: int, cursor: str | None) -> SessionPage:
    """The customer's unexpired sessions, newest first (by iat, then jti), `limit` a page.

    The cursor is the last jti given, which carries its own iat, so the next page is one keyset
    read. Unexpired tokens were all issued within the longest lifetime, so the read is a short
    range of the (customer, issued_at) index however many sessions the customer ever had.
    """
    sessions = ShopperSession.objects.filter(
        customer=customer, issued_at__gt=now - timedelta(seconds=MAX_EXPIRES_IN), expires_at__gt=now
    ).order_by("-issued_at", "-jti")
    if cursor:
        after_jti = _session_cursor_decode(customer, cursor)
        after_iat = jti_issued_at(customer.public_id, after_jti)
        sessions = sessions.filter(Q(issued_at__lt=after_iat) | Q(issued_at=after_iat, jti__lt=after_jti))
    rows = list(sessions[: limit + 1])
    next_cursor = cursor_encode(rows[limit - 1].jti) if len(rows) > limit else None
    return SessionPage(sessions=rows[:limit], next_cursor=next_cursor)


# What cursor_encode makes of a jti: its bytes in unpadded URL-safe base64, "ec_" always "ZWNf".
SESSION_CURSOR_PATTERN = "ZWNf[A-Za-z0-9_-]{1,200}"


def _session_cursor_decode(customer: EndCustomer, cursor: str) -> str:
    try:
        jti = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        jti = ""
    if jti_issued_at(customer.public_id, jti) is None:
        raise ApiError(
            ErrorCode.INVALID_BODY, "The cursor is not valid.", fieldErrors={"cursor": ["Use next_cursor as given."]}
        )
    return jti


# --- status (SPEC §15) --------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusShopper:
    """A session token's revocation, its customer and the customer's current figures, read in one
    statement for the status answer (which never writes, so an ended window is not rolled)."""

    revoked: bool
    found: bool  # False: no such customer in this store
    external_id: str = ""
    status: str = ""
    plan_name: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    used: int = 0
    limit: int = 0


# Like _TRACK_SHOPPER_SQL, the revocation is read whatever the customer lookup finds.
_STATUS_SHOPPER_SQL = """
    SELECT EXISTS (SELECT 1 FROM {session} r WHERE r.jti = %s AND r.revoked_at IS NOT NULL),
           c.id, c.external_id, c.status, p.name, p.monthly_try_ons, c.period_start, c.period_end,
           u.used, u.{limit}
    FROM (SELECT 1) AS one
    LEFT JOIN {customer} c ON c.public_id = %s AND c.store_id = %s
    LEFT JOIN {plan} p ON p.id = c.plan_id
    LEFT JOIN {period} u ON u.customer_id = c.id AND u.period_start = c.period_start
"""


def status_shopper(*, jti: str, customer_public_id: str, store_id: int, now: datetime) -> StatusShopper:
    """What a status answer says of a token's shopper; the figures as `current_usage` has them."""
    sql = _STATUS_SHOPPER_SQL.format(
        session=ShopperSession._meta.db_table,
        customer=EndCustomer._meta.db_table,
        plan=Plan._meta.db_table,
        period=UsagePeriod._meta.db_table,
        limit=connection.ops.quote_name("limit"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [jti, customer_public_id, store_id])
        revoked, customer_id, external_id, status, plan_name, plan_quota, start, end, used, limit = cursor.fetchone()
    if customer_id is None:
        return StatusShopper(revoked=bool(revoked), found=False)
    start, end = _datetime(start), _datetime(end)
    window_start, window_end = window_at(start, end, now)
    if window_start != start or used is None:  # the window rolled, or no period was opened in it
        used, limit = 0, plan_quota or 0
    return StatusShopper(
        revoked=bool(revoked),
        found=True,
        external_id=external_id,
        status=status,
        plan_name=plan_name,
        period_start=window_start,
        period_end=window_end,
        used=used,
        limit=limit,
    )


_PERIOD_END = EndCustomer._meta.get_field("period_end")


def _datetime(value: Any) -> datetime:
    """A datetime column read by raw SQL, converted as the ORM would (SQLite returns text)."""
    column = _PERIOD_END.get_col(EndCustomer._meta.db_table)
    for convert in connection.ops.get_db_converters(column):
        value = convert(value, column, connection)
    assert isinstance(value, datetime)
    return value
