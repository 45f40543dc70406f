"""The portal's Analytics page (SPEC §16): figures of a known fixture, by hand; rollups; CSV; range."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from conftest import Persona
from tryon.analytics import first_day_events, store_analytics
from tryon.models import (
    Conversion,
    DailyFunnel,
    DailyOrders,
    DailyProductFunnel,
    OrderReturn,
    TryOnEvent,
    WidgetEvent,
)
from tryon.tests.factories import TryOnEventFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
T = WidgetEvent.Type
A = Conversion.Attribution
RANGE = {"date_from": "2026-11-16", "date_to": "2026-11-18"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def signed_in(client: Client, owner: Persona) -> Client:
    client.force_login(owner.user)
    return client


def url(name: str, persona: Persona) -> str:
    return reverse(name, kwargs={"store_id": persona.store.public_id})


def visit(persona: Persona, session: str, when: datetime, *types: str, product: str = "", title: str = "") -> None:
    for n, event_type in enumerate(types):
        WidgetEvent.objects.create(
            store=persona.store,
            session_id=session,
            event_type=event_type,
            product_id=product,
            product_title=title,
            created_at=when + timedelta(seconds=n),
        )


def tryon(persona: Persona, session: str, when: datetime, outcome: str = TryOnEvent.Outcome.DEBITED) -> TryOnEvent:
    return TryOnEventFactory(api_key=persona.key, widget_session_id=session, created_at=when, outcome=outcome)


def order(persona: Persona, number: str, when: datetime, cents: int, currency: str, **fields: Any) -> Conversion:
    return Conversion.objects.create(
        store=persona.store,
        platform=Conversion.Platform.SHOPIFY,
        order_id=number,
        amount_cents=cents,
        currency=currency,
        created_at=when,
        **fields,
    )


def refund(persona: Persona, conversion: Conversion | None, when: datetime, number: str = "") -> OrderReturn:
    return OrderReturn.objects.create(
        store=persona.store,
        platform=Conversion.Platform.SHOPIFY,
        order_id=conversion.order_id if conversion else number,
        refunded_amount_cents=100,
        conversion=conversion,
        created_at=when,
    )


FULL = (T.WIDGET_OPENED, T.PHOTO_UPLOADED, T.TRYON_GENERATED, T.TRYON_VIEWED, T.ADDED_TO_CART)
P1, P2 = {"product": "p1", "title": "Linen shirt"}, {"product": "p2", "title": "Wool coat"}


def seed(persona: Persona, outsider: Persona) -> None:
    """Six visits and six orders around 16–18 Nov 2026; the expected figures are in EXPECTED."""
    # s1, 16 Nov: the whole funnel on p1, a debited try-on, an order (hard, EUR) that is returned.
    visit(persona, "s1", at(16, 10), *FULL, **P1)
    s1_tryon = tryon(persona, "s1", at(16, 10, 5))
    c1 = order(persona, "1001", at(16, 11), 5000, "EUR", session_id="s1", attribution=A.HARD, tryon_event=s1_tryon,
               product_id="p1", product_title="Linen shirt")  # fmt: skip
    refund(persona, c1, at(18, 9))
    # s2, 16 Nov: opens and uploads on p1; its try-on failed (not debited): a session without one.
    visit(persona, "s2", at(16, 12), T.WIDGET_OPENED, T.PHOTO_UPLOADED, **P1)
    tryon(persona, "s2", at(16, 12, 5), TryOnEvent.Outcome.FAILED)
    # s3, 17 Nov: opened, uploaded, generated on p2, debited, an order (hard, USD).
    visit(persona, "s3", at(17, 9), T.WIDGET_OPENED, T.PHOTO_UPLOADED, T.TRYON_GENERATED, **P2)
    tryon(persona, "s3", at(17, 9, 2))
    order(persona, "1002", at(17, 10), 3000, "USD", session_id="s3", attribution=A.HARD, product_id="p2")
    # s4 opens at 23:50 on 17 Nov and uploads after midnight: counted on the 17th, with the open only.
    # Its order (no try-on, USD) comes on the 18th and is returned.
    visit(persona, "s4", at(17, 23, 50), T.WIDGET_OPENED, **P2)
    visit(persona, "s4", at(18, 0, 10), T.PHOTO_UPLOADED, **P2)
    c3 = order(persona, "1003", at(18, 1), 2000, "USD", session_id="s4", product_id="p2")
    refund(persona, c3, at(18, 2))
    # s5 began on 15 Nov, before the range: its visit on the 16th is not a new session.
    visit(persona, "s5", at(15, 20), T.WIDGET_OPENED, **P1)
    visit(persona, "s5", at(16, 8), T.WIDGET_OPENED, **P1)
    # s6, today: opens p1, debited try-on.
    visit(persona, "s6", at(18, 8), T.WIDGET_OPENED, **P1)
    tryon(persona, "s6", at(18, 8, 5))
    # Orders without a session: soft (EUR) and none (USD); one debited try-on without a session.
    order(persona, "1004", at(18, 9), 4000, "EUR", attribution=A.SOFT)
    order(persona, "1005", at(18, 10), 1000, "USD")
    tryon(persona, "", at(17, 14))
    # Outside the range: an order and its return, a try-on; a return with no order; another store.
    c6 = order(persona, "1000", at(15, 21), 9999, "EUR", session_id="s5", attribution=A.HARD)
    refund(persona, c6, at(16, 9))
    tryon(persona, "s5", at(15, 20, 30))
    refund(persona, None, at(17, 9), number="unknown")
    visit(outsider, "s1", at(17, 10), *FULL, **P1)
    Conversion.objects.create(store=outsider.store, platform="custom", order_id="1", amount_cents=7, currency="USD",
                              created_at=at(17, 11), session_id="s1", attribution=A.HARD)  # fmt: skip
    tryon(outsider, "s1", at(17, 10, 1))


# Hand-computed from seed().
EXPECTED_DAYS = {
    # day: sessions, opened, uploaded, generated, viewed, added_to_cart, purchased, tryon_sessions
    date(2026, 11, 16): (2, 2, 2, 1, 1, 1, 1, 1),  # s1, s2; order 1001
    date(2026, 11, 17): (2, 2, 1, 1, 0, 0, 1, 1),  # s3, s4; order 1002
    date(2026, 11, 18): (1, 1, 0, 0, 0, 0, 1, 1),  # s6; order 1003 (s4's); 1004 and 1005 had no session
}


def day_tuple(day: Any) -> tuple[int, ...]:
    return (day.sessions, day.opened, day.uploaded, day.generated, day.viewed, day.added_to_cart, day.purchased,
            day.tryon_sessions)  # fmt: skip


def assert_expected(figures: Any) -> None:
    assert {d.day: day_tuple(d) for d in figures.days} == EXPECTED_DAYS
    assert day_tuple(figures.total) == (5, 5, 3, 2, 1, 1, 3, 3)
    assert (figures.orders, figures.attributed_orders) == (5, 3)
    assert (figures.orders_with_tryon, figures.orders_without_tryon) == (2, 1)
    assert figures.conversion_with_tryon == pytest.approx(2 / 3)  # 1001, 1002 of s1, s3, s6
    assert figures.conversion_without_tryon == pytest.approx(1 / 2)  # 1003 of s2, s4
    usd, eur = figures.currencies  # USD has 3 orders, EUR 2
    assert (usd.currency, usd.total.orders, usd.total.amount_cents) == ("USD", 3, 6000)
    assert (usd.hard.amount_cents, usd.soft.amount_cents, usd.attributed_cents) == (3000, 0, 3000)
    assert (usd.with_tryon.average_cents, usd.without_tryon.average_cents) == (3000, 2000)
    assert usd.attributed_share == pytest.approx(0.5)
    assert (eur.currency, eur.total.orders, eur.total.amount_cents) == ("EUR", 2, 9000)
    assert (eur.hard.amount_cents, eur.soft.amount_cents, eur.attributed_cents) == (5000, 4000, 9000)
    assert (eur.with_tryon.average_cents, eur.without_tryon.average_cents) == (5000, None)
    ra, ru = figures.returns_attributed, figures.returns_unattributed
    assert (ra.returned, ra.orders, ru.returned, ru.orders) == (1, 3, 1, 2)
    assert figures.debited_tryons == 4  # s1, s3, s6 and the one without a session
    assert figures.credits_per_attributed_order == pytest.approx(4 / 3)
    products = [(p.product_id, p.title, p.opened, p.uploaded, p.generated, p.viewed, p.added_to_cart, p.purchased)
                for p in figures.products]  # fmt: skip
    assert products == [
        ("p1", "Linen shirt", 3, 2, 1, 1, 1, 1),  # s1, s2, s6; order 1001
        ("p2", "Wool coat", 2, 1, 1, 0, 0, 2),  # s3, s4; orders 1002, 1003
    ]  # orders 1004 and 1005 (no session, no product) are not the funnel's


class TestFigures:
    @pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
    def test_known_fixture(
        self, frozen: None, signed_in: Client, owner: Persona, outsider: Persona, rolled: bool
    ) -> None:
        seed(owner, outsider)
        if rolled:
            call_command("rollup_usage")
            assert DailyFunnel.objects.filter(store=owner.store).latest("day").day == date(2026, 11, 17)
        response = signed_in.get(url("portal-analytics", owner), RANGE)
        assert response.status_code == 200
        assert_expected(response.context["analytics"])
        html = response.content.decode()
        assert 'data-testid="conversion-with">66.7%<' in html
        assert 'data-testid="conversion-without">50.0%<' in html
        assert 'data-testid="returns-attributed">33.3%<' in html
        assert 'data-testid="returns-unattributed">50.0%<' in html
        assert 'data-testid="credits-per-order">1.33<' in html
        assert 'data-testid="attributed"><strong>90.00</strong>' in html  # EUR: 50.00 hard + 40.00 soft
        assert 'data-step="purchased">3<' in html
        assert '<svg class="chart"' in html
        assert 'data-testid="days"' in html

    def test_rolled_days_plus_live_days_equal_a_direct_count(self, owner: Persona, outsider: Persona) -> None:
        with time_machine.travel(NOW, tick=False):
            seed(owner, outsider)
        # Rolled at 00:15 on the 17th: the 16th (and the 15th) rolled, the 17th and 18th live.
        with time_machine.travel(at(17, 0, 15), tick=False):
            call_command("rollup_usage")
        assert DailyFunnel.objects.filter(store=owner.store).latest("day").day == date(2026, 11, 16)
        partial = store_analytics(owner.store, start=date(2026, 11, 16), end=date(2026, 11, 18), now=NOW)
        assert_expected(partial)
        # A direct count: distinct sessions whose first event is in the range, from the events alone.
        firsts: dict[str, datetime] = {}
        for session, created in WidgetEvent.objects.filter(store=owner.store).values_list("session_id", "created_at"):
            firsts[session] = min(created, firsts.get(session, created))
        direct = sum(date(2026, 11, 16) <= moment.date() <= date(2026, 11, 18) for moment in firsts.values())
        assert partial.total.sessions == direct == 5

    def test_rollup_rows(self, frozen: None, owner: Persona, outsider: Persona) -> None:
        seed(owner, outsider)
        call_command("rollup_usage")
        # Dense from the first event (15 Nov) to yesterday, for this store only.
        days = list(DailyFunnel.objects.filter(store=owner.store).order_by("day").values_list("day", "sessions"))
        assert days == [(date(2026, 11, 15), 1), (date(2026, 11, 16), 2), (date(2026, 11, 17), 2)]
        assert DailyProductFunnel.objects.get(store=owner.store, day=date(2026, 11, 17), product_id="p2").opened == 2
        hard = DailyOrders.objects.get(store=owner.store, day=date(2026, 11, 16))
        assert (hard.currency, hard.attribution, hard.tryon_session, hard.widget_session) == ("EUR", "hard", True, True)
        # Idempotent: a second run, or a rebuild, leaves the same rows.
        before = list(DailyFunnel.objects.filter(store=owner.store).order_by("day").values_list("day", "sessions"))
        call_command("rollup_usage")
        call_command("rollup_usage", "--rebuild")
        after = list(DailyFunnel.objects.filter(store=owner.store).order_by("day").values_list("day", "sessions"))
        assert before == after

    def test_session_counted_on_its_first_day_only(self, frozen: None, owner: Persona) -> None:
        visit(owner, "late", at(17, 23, 59), T.WIDGET_OPENED)
        visit(owner, "late", at(18, 0, 1), T.PHOTO_UPLOADED, T.WIDGET_OPENED)
        rows = list(first_day_events(owner.store.pk, date(2026, 11, 17), date(2026, 11, 19)).values_list("event_type"))
        assert rows == [(T.WIDGET_OPENED,)]


class TestRange:
    def test_default_is_the_last_30_days(self, frozen: None, signed_in: Client, owner: Persona) -> None:
        figures = signed_in.get(url("portal-analytics", owner)).context["analytics"]
        assert (figures.start, figures.end, len(figures.days)) == (date(2026, 10, 20), date(2026, 11, 18), 30)

    def test_edges_are_included(self, frozen: None, signed_in: Client, owner: Persona) -> None:
        visit(owner, "first", at(16, 0, 0), T.WIDGET_OPENED)
        visit(owner, "last", datetime(2026, 11, 16, 23, 59, 59, 999999, tzinfo=UTC), T.WIDGET_OPENED)
        visit(owner, "after", at(17, 0, 0), T.WIDGET_OPENED)
        visit(owner, "before", datetime(2026, 11, 15, 23, 59, 59, 999999, tzinfo=UTC), T.WIDGET_OPENED)
        one_day = {"date_from": "2026-11-16", "date_to": "2026-11-16"}
        figures = signed_in.get(url("portal-analytics", owner), one_day).context["analytics"]
        assert [(d.day, d.sessions) for d in figures.days] == [(date(2026, 11, 16), 2)]

    @pytest.mark.parametrize(
        "params",
        [
            {"date_from": "2026-11-18", "date_to": "2026-11-01"},
            {"date_from": "2024-01-01", "date_to": "2026-11-18"},
            {"date_from": "not a date"},
        ],
    )
    def test_bad_ranges_are_a_400_with_the_default_range(
        self, frozen: None, signed_in: Client, owner: Persona, params: dict[str, str]
    ) -> None:
        response = signed_in.get(url("portal-analytics", owner), params)
        assert response.status_code == 400
        assert len(response.context["analytics"].days) == 30
        assert 'class="field__error"' in response.content.decode()
        assert signed_in.get(url("portal-analytics-csv", owner), params).status_code == 400

    @pytest.mark.parametrize("params", [{"date_from": "0001-01-01"}, {"date_to": "0001-01-05"},
                                        {"date_from": "9999-12-31"}, {"date_to": "9999-12-31"}])  # fmt: skip
    def test_ends_of_the_calendar_never_fail(
        self, frozen: None, signed_in: Client, owner: Persona, params: Any
    ) -> None:
        visit(owner, "s", at(18, 1), T.WIDGET_OPENED)
        response = signed_in.get(url("portal-analytics", owner), params)
        assert response.status_code == 200
        assert len(response.context["analytics"].days) <= 366
        assert signed_in.get(url("portal-analytics-csv", owner), params).status_code == 200

    def test_only_a_start_reads_to_today(self, frozen: None, signed_in: Client, owner: Persona) -> None:
        figures = signed_in.get(url("portal-analytics", owner), {"date_from": "2026-11-10"}).context["analytics"]
        assert (figures.start, figures.end) == (date(2026, 11, 10), date(2026, 11, 18))


class TestCsv:
    def test_one_row_per_day_with_money_per_currency(
        self, frozen: None, signed_in: Client, owner: Persona, outsider: Persona
    ) -> None:
        seed(owner, outsider)
        response = signed_in.get(url("portal-analytics-csv", owner), RANGE)
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="genvoris-analytics-')
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [r["day"] for r in rows] == ["2026-11-16", "2026-11-17", "2026-11-18"]
        assert list(rows[0]) == [
            "day", "sessions", "opened", "uploaded", "generated", "viewed", "added_to_cart", "purchased",
            "sessions_with_tryon", "orders_usd", "revenue_usd_cents", "hard_usd_cents", "soft_usd_cents",
            "orders_eur", "revenue_eur_cents", "hard_eur_cents", "soft_eur_cents",
        ]  # fmt: skip
        by_day = {r["day"]: r for r in rows}
        assert (by_day["2026-11-16"]["opened"], by_day["2026-11-16"]["hard_eur_cents"]) == ("2", "5000")
        assert by_day["2026-11-17"]["revenue_usd_cents"] == "3000"
        assert (by_day["2026-11-18"]["orders_usd"], by_day["2026-11-18"]["revenue_usd_cents"]) == ("2", "3000")
        assert by_day["2026-11-18"]["soft_eur_cents"] == "4000"

    def test_empty_store(self, frozen: None, signed_in: Client, owner: Persona) -> None:
        rows = list(csv.reader(io.StringIO(signed_in.get(url("portal-analytics-csv", owner)).content.decode())))
        assert len(rows) == 31
        assert rows[0][:2] == ["day", "sessions"]


class TestPage:
    def test_empty_state_links_to_the_integration_page(self, signed_in: Client, owner: Persona) -> None:
        html = signed_in.get(url("portal-analytics", owner)).content.decode()
        assert 'data-testid="analytics-empty"' in html
        assert f'href="{url("portal-integration", owner)}"' in html
        assert "POST /api/v1/conversions" in html

    def test_nav_item_after_integration(self, signed_in: Client, owner: Persona) -> None:
        html = signed_in.get(url("portal-analytics", owner)).content.decode()
        integration, analytics = html.index(">Integration<"), html.index(">Analytics<")
        assert integration < analytics
        assert 'aria-current="page"><svg' in html[html.rfind("<a", 0, analytics) : analytics]

    def test_statement_budget(
        self, frozen: None, signed_in: Client, owner: Persona, outsider: Persona, at_most: Any
    ) -> None:
        """Session, user, store, switcher; watermarks; the rolled rows; the live day's scans; returns;
        credits. The same with 5 orders as with 100,000: nothing runs per row."""
        seed(owner, outsider)
        call_command("rollup_usage")
        with at_most(17):
            assert signed_in.get(url("portal-analytics", owner), RANGE).status_code == 200
        for n in range(20):
            visit(owner, f"more{n}", at(18, 12), *FULL, **P1)
            order(owner, f"more{n}", at(18, 13), 100, "GBP", session_id=f"more{n}")
        with at_most(17):
            assert signed_in.get(url("portal-analytics", owner), RANGE).status_code == 200


PAGES = ["portal-analytics", "portal-analytics-csv"]


@pytest.mark.parametrize("name", PAGES)
def test_outsider_gets_404(client: Client, owner: Persona, outsider: Persona, name: str) -> None:
    seed(owner, outsider)
    client.force_login(outsider.user)
    assert client.get(url(name, owner)).status_code == 404
    assert client.get(url(name, owner), RANGE).status_code == 404
    assert client.get(url(name, outsider)).status_code == 200


@pytest.mark.parametrize("name", PAGES)
def test_needs_sign_in(client: Client, owner: Persona, name: str) -> None:
    response = client.get(url(name, owner))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("name", PAGES)
def test_unknown_store_is_404(signed_in: Client, name: str) -> None:
    assert signed_in.get(reverse(name, kwargs={"store_id": "st_nope"})).status_code == 404
