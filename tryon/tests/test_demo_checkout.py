"""The demo completes the loop (issue 12, item 5): "Add to bag" and the fake checkout report the
funnel events and the order through the funnel services, with the widget's visit id."""

from typing import Any

import pytest
from django.test import Client

from tryon.demo import Demo, demo_seed
from tryon.demo_views import BAG_COOKIE, PLATFORM
from tryon.models import Conversion, WidgetEvent
from tryon.tests.factories import TryOnEventFactory

# The funnel services open durable transactions, as in production: no test-wide atomic block.
pytestmark = pytest.mark.django_db(transaction=True)

SID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def demo() -> Demo:
    return demo_seed()


def add(client: Client, slug: str) -> Any:
    return client.post("/demo/bag/add", {"product": slug})


def checkout(client: Client) -> Conversion:
    response = client.post("/demo/checkout")
    assert response.status_code == 302
    order_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    return Conversion.objects.get(platform=PLATFORM, order_id=order_id)


def test_add_to_bag_keeps_the_bag_and_reports_the_event(client: Client, demo: Demo) -> None:
    client.cookies["gv_sid"] = SID
    response = add(client, "wrap-dress")
    assert (response.status_code, response["Location"]) == (302, "/demo/bag/")
    assert client.cookies[BAG_COOKIE]["httponly"]
    add(client, "wrap-dress")
    add(client, "linen-shirt")
    text = client.get("/demo/bag/").content.decode()
    assert text.count('data-testid="bag-line"') == 2
    assert 'data-testid="bag-total">€237<' in text  # 2 × €89 + €59
    assert SID in text
    rows = WidgetEvent.objects.filter(store=demo.store, session_id=SID).values_list("event_type", "product_id")
    assert sorted(rows) == sorted(
        [("ADDED_TO_CART", "wrap-dress"), ("ADDED_TO_CART", "wrap-dress"), ("ADDED_TO_CART", "linen-shirt")]
    )
    assert "Your bag: 3 items" in client.get("/demo/wrap-dress/").content.decode()


def test_checkout_after_a_try_on_in_the_visit_is_attributed_hard(client: Client, demo: Demo) -> None:
    tried = TryOnEventFactory(api_key=demo.store.api_keys.first(), widget_session_id=SID)
    client.cookies["gv_sid"] = SID
    add(client, "wrap-dress")
    conversion = checkout(client)
    assert conversion.store == demo.store
    assert (conversion.attribution, conversion.tryon_event_id) == (Conversion.Attribution.HARD, tried.pk)
    assert (conversion.amount_cents, conversion.currency, conversion.quantity) == (8900, "EUR", 1)
    assert (conversion.product_id, conversion.session_id) == ("wrap-dress", SID)
    started = WidgetEvent.objects.get(store=demo.store, event_type="CHECKOUT_STARTED")
    assert (started.session_id, started.product_id) == (SID, "wrap-dress")
    assert BAG_COOKIE not in client.cookies or client.cookies[BAG_COOKIE].value == ""
    text = client.get(f"/demo/orders/{conversion.order_id}/").content.decode()
    assert 'data-attribution="hard"' in text
    assert "€89" in text
    assert f"/portal/{demo.store.public_id}/analytics" in text


def test_checkout_without_a_try_on_is_not_attributed(client: Client, demo: Demo) -> None:
    client.cookies["gv_sid"] = SID
    add(client, "wrap-dress")
    assert checkout(client).attribution == Conversion.Attribution.NONE


def test_without_a_visit_id_nothing_joins_the_funnel_but_the_order_is_kept(client: Client, demo: Demo) -> None:
    add(client, "wrap-dress")
    conversion = checkout(client)
    assert (conversion.session_id, conversion.attribution) == ("", Conversion.Attribution.NONE)
    assert not WidgetEvent.objects.exists()


def test_a_forged_visit_id_is_ignored(client: Client, demo: Demo) -> None:
    client.cookies["gv_sid"] = "x" * 65
    add(client, "wrap-dress")
    assert checkout(client).session_id == ""


def test_an_empty_bag_cannot_check_out(client: Client, demo: Demo) -> None:
    response = client.post("/demo/checkout")
    assert response["Location"] == "/demo/bag/"
    assert not Conversion.objects.exists()
    assert "Your bag is empty" in client.get("/demo/bag/").content.decode()


def test_a_tampered_bag_is_an_empty_bag(client: Client, demo: Demo) -> None:
    client.cookies[BAG_COOKIE] = "wrap-dress:900"
    assert "Your bag is empty" in client.get("/demo/bag/").content.decode()


def test_remove_and_unknown_products(client: Client, demo: Demo) -> None:
    add(client, "wrap-dress")
    assert add(client, "no-such-thing")["Location"] == "/demo/"
    client.post("/demo/bag/remove", {"product": "wrap-dress"})
    assert "Your bag is empty" in client.get("/demo/bag/").content.decode()


def test_an_unknown_order_is_404(client: Client, demo: Demo) -> None:
    assert client.get("/demo/orders/demo-nope/").status_code == 404


def test_not_seeded(client: Client) -> None:
    assert client.post("/demo/bag/add", {"product": "wrap-dress"})["Location"] == "/demo/"
    assert client.get("/demo/bag/").status_code == 200
    assert client.get("/demo/orders/demo-x/").status_code == 404
