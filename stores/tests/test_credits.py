"""Money (SPEC §2): top-ups, FIFO by soonest expiry, expiry write-offs, and the audit invariants.

Try-ons go through the real track endpoint, so these tests hold the service and the HTTP layer to
the same books the operator's `audit_credits` checks.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Persona, Track
from genvoris.errors import ApiError, ErrorCode
from quotas.models import EndCustomer, UsagePeriod
from quotas.sessions import session_mint
from quotas.tests.factories import EndCustomerFactory, PlanFactory
from stores import services
from stores.models import ApiKey, CreditLedgerEntry, CreditPack, Store
from stores.services import (
    COMMAND,
    MAX_TOPUP_CREDITS,
    SYSTEM,
    Actor,
    TopUpAlreadyApplied,
    credit_packs_expire,
    credit_topup,
)
from stores.tests.factories import ApiKeyFactory, StoreFactory
from tryon.models import TryOnEvent
from tryon.selectors import credit_audit

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Shop:
    """A store with no credits yet and a secret key, so every pack in it is the test's own."""

    store: Store
    key: ApiKey

    @property
    def secret(self) -> str:
        return self.key.plaintext  # type: ignore[attr-defined]

    def balance(self) -> int:
        return Store.objects.get(pk=self.store.pk).credit_balance

    def topup(self, credits: int, valid_days: int, actor: Actor = COMMAND) -> CreditPack:
        pack, _ = credit_topup(store=self.store, credits=credits, actor=actor, valid_days=valid_days)
        return pack


def new_shop() -> Shop:
    store = StoreFactory()
    return Shop(store=store, key=ApiKeyFactory(store=store))


def remaining(pack: CreditPack) -> int:
    return CreditPack.objects.get(pk=pack.pk).remaining


def assert_books_balance() -> None:
    checked, drift = credit_audit()
    assert checked == Store.objects.count()
    assert drift == []


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# --- top-up ---------------------------------------------------------------------------------------


class TestTopup:
    def test_pack_and_ledger_entry_with_balance_after_and_actor(self, owner: Persona, clock: Any) -> None:
        actor = Actor.of_user(owner.user)
        pack, balance = credit_topup(
            store=owner.store, credits=40, actor=actor, price_per_credit=Decimal("0.0450"), valid_days=90, note=" PO-7 "
        )
        assert balance == 140
        assert Store.objects.get(pk=owner.store.pk).credit_balance == 140
        pack.refresh_from_db()
        assert pack.public_id.startswith("pck_")
        assert (pack.credits, pack.remaining, pack.price_per_credit) == (40, 40, Decimal("0.0450"))
        assert (pack.purchased_at, pack.expires_at, pack.expired_at) == (NOW, NOW + timedelta(days=90), None)
        assert pack.note == "PO-7"
        entry = CreditLedgerEntry.objects.get(pack=pack)
        assert (entry.store, entry.kind, entry.delta, entry.balance_after) == (
            owner.store,
            CreditLedgerEntry.Kind.TOPUP,
            40,
            140,
        )
        assert (entry.actor, entry.actor_user, entry.reason) == ("owner@example.com", owner.user, "PO-7")
        assert_books_balance()

    def test_balance_after_follows_every_topup(self, clock: Any) -> None:
        shop = new_shop()
        for credits in (5, 7, 11):
            shop.topup(credits, valid_days=30)
        ledger = CreditLedgerEntry.objects.filter(store=shop.store).order_by("id")
        assert [(e.delta, e.balance_after) for e in ledger] == [(5, 5), (7, 12), (11, 23)]
        assert shop.balance() == 23
        assert_books_balance()

    def test_default_validity_is_a_year(self, clock: Any) -> None:
        shop = new_shop()
        pack, _ = credit_topup(store=shop.store, credits=1, actor=SYSTEM)
        assert pack.expires_at == NOW + timedelta(days=365)

    @pytest.mark.parametrize(
        ("changes", "field_name"),
        [
            ({"credits": 0}, "credits"),
            ({"credits": -1}, "credits"),
            ({"credits": MAX_TOPUP_CREDITS + 1}, "credits"),
            ({"credits": 2.5}, "credits"),
            ({"credits": "5"}, "credits"),
            ({"credits": True}, "credits"),
            ({"price_per_credit": Decimal("-0.0001")}, "price_per_credit"),
            ({"price_per_credit": Decimal("NaN")}, "price_per_credit"),
            ({"price_per_credit": Decimal("Infinity")}, "price_per_credit"),
            ({"price_per_credit": Decimal("1000000")}, "price_per_credit"),
            ({"price_per_credit": Decimal("0.00005")}, "price_per_credit"),
            ({"valid_days": 0}, "valid_days"),
            ({"valid_days": -30}, "valid_days"),
            ({"valid_days": 3651}, "valid_days"),
        ],
    )
    def test_validation_errors_move_nothing(self, owner: Persona, changes: dict[str, Any], field_name: str) -> None:
        arguments: dict[str, Any] = {"store": owner.store, "credits": 10, "actor": COMMAND, **changes}
        with pytest.raises(ApiError) as raised:
            credit_topup(**arguments)
        assert raised.value.code == ErrorCode.INVALID_BODY
        assert field_name in raised.value.extra["fieldErrors"]
        assert Store.objects.get(pk=owner.store.pk).credit_balance == 100
        assert CreditPack.objects.filter(store=owner.store).count() == 1
        assert CreditLedgerEntry.objects.filter(store=owner.store).count() == 1

    @pytest.mark.parametrize(
        ("credits", "price", "days"),
        [(1, Decimal("0"), 1), (MAX_TOPUP_CREDITS, Decimal("999999.9999"), 3650), (3, Decimal("0.10"), 7)],
    )
    def test_the_limits_themselves_are_accepted(self, credits: int, price: Decimal, days: int) -> None:
        shop = new_shop()
        pack, balance = credit_topup(
            store=shop.store, credits=credits, actor=COMMAND, price_per_credit=price, valid_days=days
        )
        assert balance == credits
        assert CreditPack.objects.get(pk=pack.pk).price_per_credit == price


class TestTopupOnce:
    """A request token (the admin form's) tops a store up once, however often it is sent."""

    def books(self, store: Store) -> tuple[int, int, int]:
        return (
            Store.objects.get(pk=store.pk).credit_balance,
            CreditPack.objects.filter(store=store).count(),
            CreditLedgerEntry.objects.filter(store=store).count(),
        )

    def test_a_repeat_is_refused_with_the_first_pack(self, owner: Persona) -> None:
        first, _ = credit_topup(store=owner.store, credits=40, actor=COMMAND, request_token="form-1")
        with pytest.raises(TopUpAlreadyApplied) as raised:
            credit_topup(store=owner.store, credits=40, actor=COMMAND, request_token="form-1")
        assert raised.value.pack == first
        assert self.books(owner.store) == (140, 2, 2)

    def test_the_token_is_per_store_and_without_one_nothing_is_deduplicated(
        self, owner: Persona, outsider: Persona
    ) -> None:
        credit_topup(store=owner.store, credits=40, actor=COMMAND, request_token="form-1")
        credit_topup(store=outsider.store, credits=40, actor=COMMAND, request_token="form-1")
        credit_topup(store=owner.store, credits=5, actor=COMMAND)
        credit_topup(store=owner.store, credits=5, actor=COMMAND)
        assert self.books(owner.store) == (150, 4, 4)
        assert self.books(outsider.store) == (140, 2, 2)

    def test_a_repeat_that_passed_the_check_is_refused_by_the_constraint(
        self, owner: Persona, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """What a concurrent repeat sees (tested with threads in test_admin.py on PostgreSQL): the
        check found nothing yet, so the unique constraint refuses its pack and it rolls back whole."""
        first, _ = credit_topup(store=owner.store, credits=40, actor=COMMAND, request_token="form-1")
        lookup, calls = services._topup_of_token, []

        def too_early(store: Store, request_token: str) -> CreditPack | None:
            calls.append(request_token)
            return None if len(calls) == 1 else lookup(store, request_token)

        monkeypatch.setattr(services, "_topup_of_token", too_early)
        with pytest.raises(TopUpAlreadyApplied) as raised:
            credit_topup(store=owner.store, credits=40, actor=COMMAND, request_token="form-1")
        assert raised.value.pack == first
        assert len(calls) == 2
        assert self.books(owner.store) == (140, 2, 2)
        assert_books_balance()

    def test_the_database_refuses_a_second_pack_of_one_token(self, owner: Persona) -> None:
        fields = {"store": owner.store, "credits": 1, "remaining": 1, "expires_at": NOW}
        CreditPack.objects.create(**fields, request_token="form-1")
        CreditPack.objects.create(**fields)  # packs without a token are not deduplicated
        CreditPack.objects.create(**fields)
        with pytest.raises(IntegrityError), transaction.atomic():
            CreditPack.objects.create(**fields, request_token="form-1")


# --- FIFO by soonest expiry -----------------------------------------------------------------------


class TestFifo:
    def test_the_soonest_expiring_pack_is_spent_not_the_oldest(
        self, track: Track, clock: time_machine.Traveller
    ) -> None:
        shop = new_shop()
        long_lived = shop.topup(10, valid_days=300)  # bought first
        clock.shift(timedelta(days=1))
        short_lived = shop.topup(10, valid_days=30)  # bought later, expires first
        response = track({"api_key": shop.secret})
        assert response.status_code == 200
        assert response.json()["remaining_credits"] == 19
        assert (remaining(short_lived), remaining(long_lived)) == (9, 10)
        assert_books_balance()

    def test_the_next_pack_takes_over_when_the_first_is_spent(
        self, track: Track, clock: time_machine.Traveller
    ) -> None:
        shop = new_shop()
        later = shop.topup(3, valid_days=60)
        sooner = shop.topup(2, valid_days=20)
        statuses = [track({"api_key": shop.secret}).status_code for _ in range(4)]
        assert statuses == [200] * 4
        assert (remaining(sooner), remaining(later)) == (0, 1)
        assert shop.balance() == 1
        assert TryOnEvent.objects.filter(store=shop.store, debited=True).count() == 4
        assert_books_balance()

    def test_a_failed_try_on_spends_from_no_pack(self, track: Track, clock: Any) -> None:
        shop = new_shop()
        pack = shop.topup(2, valid_days=20)
        assert track({"api_key": shop.secret, "success": False}).status_code == 200
        assert remaining(pack) == 2
        assert_books_balance()


# --- expired packs are never spent ----------------------------------------------------------------


class TestExpiredPacksAreNeverSpent:
    def test_a_pack_past_expiry_is_skipped_before_the_job_writes_it_off(
        self, track: Track, clock: time_machine.Traveller
    ) -> None:
        shop = new_shop()
        stale = shop.topup(10, valid_days=5)
        live = shop.topup(10, valid_days=100)
        clock.shift(timedelta(days=6))
        response = track({"api_key": shop.secret})
        assert response.status_code == 200
        assert (remaining(stale), remaining(live)) == (10, 9)
        # Not written off yet, so the stale credits still count in the balance (docs/decisions.md).
        assert response.json()["remaining_credits"] == shop.balance() == 19
        assert_books_balance()
        assert credit_packs_expire() == (1, 10)
        assert shop.balance() == 9
        assert_books_balance()

    def test_only_expired_packs_left_is_402_and_they_are_written_off_on_the_spot(
        self, track: Track, clock: time_machine.Traveller
    ) -> None:
        shop = new_shop()
        first = shop.topup(4, valid_days=5)
        second = shop.topup(3, valid_days=6)
        clock.shift(timedelta(days=7))
        response = track({"api_key": shop.secret})
        assert response.status_code == 402
        assert response.json()["error"] == "credit_limit_reached"
        assert shop.balance() == 0
        for pack in (first, second):
            pack.refresh_from_db()
            assert (pack.remaining, pack.expired_at) == (0, NOW + timedelta(days=7))
        expiries = CreditLedgerEntry.objects.filter(store=shop.store, kind=CreditLedgerEntry.Kind.EXPIRY)
        assert sorted((e.delta, e.balance_after) for e in expiries) == [(-4, 3), (-3, 0)]
        event = TryOnEvent.objects.get(store=shop.store)
        assert (event.outcome, event.debited) == ("credit_limit_reached", False)
        assert_books_balance()
        # The next one is refused on the balance alone, and nothing more is written off.
        assert track({"api_key": shop.secret}).status_code == 402
        assert expiries.count() == 2
        assert_books_balance()

    def test_a_pack_is_expired_at_its_expiry_instant(self, track: Track, clock: time_machine.Traveller) -> None:
        shop = new_shop()
        shop.topup(1, valid_days=1)
        clock.shift(timedelta(days=1) - timedelta(microseconds=1))
        assert track({"api_key": shop.secret, "success": False}).status_code == 200
        clock.shift(timedelta(microseconds=1))
        assert track({"api_key": shop.secret}).status_code == 402
        assert shop.balance() == 0
        assert_books_balance()

    def test_a_top_up_after_the_402_works_again(self, track: Track, clock: time_machine.Traveller) -> None:
        shop = new_shop()
        shop.topup(2, valid_days=1)
        clock.shift(timedelta(days=2))
        assert track({"api_key": shop.secret}).status_code == 402
        shop.topup(1, valid_days=1)
        assert track({"api_key": shop.secret}).json()["remaining_credits"] == 0
        assert_books_balance()


# --- credit_packs_expire --------------------------------------------------------------------------


class TestCreditPacksExpire:
    def test_writes_off_what_is_left_with_one_ledger_entry_per_pack(
        self, track: Track, clock: time_machine.Traveller
    ) -> None:
        shop, other = new_shop(), new_shop()
        a = shop.topup(5, valid_days=10)
        b = shop.topup(8, valid_days=12)
        keep = shop.topup(2, valid_days=40)
        c = other.topup(6, valid_days=11)
        for _ in range(3):
            assert track({"api_key": shop.secret}).status_code == 200  # all three from pack a
        assert (remaining(a), shop.balance()) == (2, 12)

        clock.shift(timedelta(days=20))
        assert credit_packs_expire() == (3, 2 + 8 + 6)
        assert (shop.balance(), other.balance()) == (2, 0)
        for pack in (a, b, c):
            pack.refresh_from_db()
            assert (pack.remaining, pack.expired_at) == (0, NOW + timedelta(days=20))
        assert remaining(keep) == 2
        entries = CreditLedgerEntry.objects.filter(kind=CreditLedgerEntry.Kind.EXPIRY).order_by("id")
        assert [(e.store_id, e.pack_id, e.delta, e.balance_after, e.actor) for e in entries] == [
            (shop.store.pk, a.pk, -2, 10, "system"),
            (shop.store.pk, b.pk, -8, 2, "system"),
            (other.store.pk, c.pk, -6, 0, "system"),
        ]
        assert all(e.reason for e in entries)
        assert_books_balance()

    def test_running_twice_expires_nothing_more(self, clock: time_machine.Traveller) -> None:
        shop = new_shop()
        shop.topup(5, valid_days=1)
        shop.topup(5, valid_days=9)
        clock.shift(timedelta(days=2))
        assert credit_packs_expire() == (1, 5)
        entries = CreditLedgerEntry.objects.count()
        assert credit_packs_expire() == (0, 0)
        assert CreditLedgerEntry.objects.count() == entries
        assert shop.balance() == 5
        assert_books_balance()

    def test_a_spent_pack_is_closed_without_a_ledger_entry(self, track: Track, clock: time_machine.Traveller) -> None:
        shop = new_shop()
        pack = shop.topup(1, valid_days=1)
        assert track({"api_key": shop.secret}).status_code == 200
        clock.shift(timedelta(days=1))
        _, credits = credit_packs_expire()
        assert credits == 0
        assert CreditPack.objects.get(pk=pack.pk).expired_at == NOW + timedelta(days=1)
        assert not CreditLedgerEntry.objects.filter(kind=CreditLedgerEntry.Kind.EXPIRY).exists()
        assert_books_balance()

    def test_packs_not_yet_due_are_untouched(self, clock: time_machine.Traveller) -> None:
        shop = new_shop()
        pack = shop.topup(5, valid_days=3)
        clock.shift(timedelta(days=3) - timedelta(seconds=1))
        assert credit_packs_expire() == (0, 0)
        assert CreditPack.objects.get(pk=pack.pk).expired_at is None
        assert shop.balance() == 5

    def test_scoped_to_one_store(self, clock: time_machine.Traveller) -> None:
        shop, other = new_shop(), new_shop()
        shop.topup(5, valid_days=1)
        other.topup(4, valid_days=1)
        clock.shift(timedelta(days=1))
        assert credit_packs_expire(store=shop.store) == (1, 5)
        assert (shop.balance(), other.balance()) == (0, 4)


# --- the balance never goes below zero ------------------------------------------------------------


class TestNeverNegative:
    def test_the_database_refuses_a_negative_balance(self, owner: Persona) -> None:
        with pytest.raises(IntegrityError), transaction.atomic():
            Store.objects.filter(pk=owner.store.pk).update(credit_balance=-1)
        assert Store.objects.get(pk=owner.store.pk).credit_balance == 100

    def test_the_database_refuses_a_negative_pack(self, owner: Persona) -> None:
        with pytest.raises(IntegrityError), transaction.atomic():
            CreditPack.objects.filter(store=owner.store).update(remaining=-1)

    def test_an_empty_store_stays_at_zero(self, track: Track, clock: Any) -> None:
        shop = new_shop()
        shop.topup(1, valid_days=5)
        assert [track({"api_key": shop.secret}).status_code for _ in range(3)] == [200, 402, 402]
        assert shop.balance() == 0
        assert TryOnEvent.objects.filter(store=shop.store, debited=True).count() == 1
        assert_books_balance()


# --- property: any sequence of operations keeps the books straight --------------------------------

QUOTA = 3

operations = st.lists(
    st.one_of(
        st.tuples(st.just("topup"), st.integers(1, 4), st.integers(1, 6)),
        st.tuples(st.just("travel"), st.integers(0, 4)),
        st.tuples(st.just("expire")),
        st.tuples(st.just("tryon"), st.booleans()),
        st.tuples(st.just("tryon_token"), st.booleans()),
    ),
    min_size=1,
    max_size=14,
)


@dataclass
class PackModel:
    pk: int
    remaining: int
    expires_at: datetime
    written_off: bool = False


@dataclass
class Books:
    """What the store's money should be, computed without the product's code."""

    start: datetime
    packs: list[PackModel] = field(default_factory=list)
    debits: int = 0
    used: dict[int, int] = field(default_factory=dict)  # 30-day window index → try-ons counted

    @property
    def balance(self) -> int:
        return sum(p.remaining for p in self.packs if not p.written_off)

    def expire(self, now: datetime) -> None:
        for pack in self.packs:
            if not pack.written_off and pack.expires_at <= now:
                pack.written_off, pack.remaining = True, 0

    def spendable(self, now: datetime) -> PackModel | None:
        live = [p for p in self.packs if not p.written_off and p.remaining and p.expires_at > now]
        return min(live, key=lambda p: (p.expires_at, p.pk), default=None)

    def window(self, now: datetime) -> int:
        return (now - self.start) // timedelta(days=30)


def debited_events(store: Store) -> int:
    return TryOnEvent.objects.filter(store=store, debited=True).count()


def quota_used(customer: EndCustomer) -> int:
    return UsagePeriod.objects.filter(customer=customer).aggregate(n=Sum("used"))["n"] or 0


def try_on(track: Track, shop: Shop, books: Books, customer: EndCustomer | None, success: bool, now: datetime) -> None:
    """One try-on through the endpoint, checked against the model before the model moves."""
    body: dict[str, Any] = {"api_key": shop.secret, "success": success}
    if customer is not None:
        body["end_customer_token"] = session_mint(customer=customer).token
    before = debited_events(shop.store)
    response = track(body)
    data = response.json()
    quota_full = customer is not None and books.used.get(books.window(now), 0) >= QUOTA
    pack = books.spendable(now)
    if not success:
        assert response.status_code == 200, data
        assert data["remaining_credits"] == books.balance
    elif quota_full:
        assert (response.status_code, data["error"]) == (402, "end_customer_quota"), data
    elif books.balance >= 1 and pack is not None:
        assert response.status_code == 200, data
        pack.remaining -= 1
        books.debits += 1
        if customer is not None:
            books.used[books.window(now)] = books.used.get(books.window(now), 0) + 1
        assert data["remaining_credits"] == books.balance
    else:
        assert (response.status_code, data["error"]) == (402, "credit_limit_reached"), data
        if books.balance:  # only packs past expiry held it: written off on the spot
            books.expire(now)
    # Every 200 of a successful try-on is exactly one debited event; every other answer none.
    expected_new = 1 if response.status_code == 200 and success else 0
    assert debited_events(shop.store) == before + expected_new


def assert_books(shop: Shop, books: Books, customer: EndCustomer) -> None:
    assert_books_balance()
    balance = shop.balance()
    assert balance >= 0
    assert balance == books.balance
    stored = dict(CreditPack.objects.filter(store=shop.store).values_list("pk", "remaining"))
    assert stored == {p.pk: p.remaining for p in books.packs}
    assert debited_events(shop.store) == books.debits
    assert quota_used(customer) == sum(books.used.values())
    assert quota_used(customer) == TryOnEvent.objects.filter(end_customer=customer, debited=True).count()


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
def test_any_sequence_of_operations_keeps_the_books(track: Track, steps: list[tuple[Any, ...]]) -> None:
    # Each example gets its own store: the test's transaction is not rolled back between examples,
    # and a savepoint per example would break the durable debit transaction.
    with time_machine.travel(NOW, tick=False) as clock:
        shop = new_shop()
        customer = EndCustomerFactory(store=shop.store, plan=PlanFactory(store=shop.store, monthly_try_ons=QUOTA))
        books = Books(start=NOW)
        for step in steps:
            now = datetime.now(tz=UTC)
            match step:
                case ("topup", credits, days):
                    pack = shop.topup(credits, valid_days=days)
                    books.packs.append(PackModel(pack.pk, credits, now + timedelta(days=days)))
                case ("travel", days):
                    clock.shift(timedelta(days=days))
                case ("expire",):
                    credit_packs_expire()
                    books.expire(now)
                case ("tryon", success):
                    try_on(track, shop, books, None, success, now)
                case ("tryon_token", success):
                    try_on(track, shop, books, customer, success, now)
            assert_books(shop, books, customer)
