from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count

from genvoris.errors import ApiError, ErrorCode
from genvoris.ids import is_public_id, storable
from genvoris.pagination import cursor_decode, cursor_encode
from quotas.models import EndCustomer, Plan, RevokedSession, UsagePeriod
from quotas.periods import window_at
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
    SELECT EXISTS (SELECT 1 FROM {revoked} r WHERE r.jti = %s),
           c.id, c.status, c.plan_id IS NOT NULL, c.period_end <= %s, u.id, u.{limit}, u.used
    FROM (SELECT 1) AS one
    LEFT JOIN {customer} c ON c.public_id = %s AND c.store_id = %s
    LEFT JOIN {period} u ON u.customer_id = c.id AND u.period_start = c.period_start
"""


def track_shopper(*, jti: str, customer_public_id: str, store_id: int, now: datetime) -> TrackShopper:
    """The token's revocation, its customer, the customer's current period and its figures."""
    sql = _TRACK_SHOPPER_SQL.format(
        revoked=RevokedSession._meta.db_table,
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
