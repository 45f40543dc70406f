"""Webhooks in a real browser: add an endpoint, copy its secret, ping it, read the delivery.

Screenshots go to a temporary folder, or to docs/screenshots/ with UPDATE_SCREENSHOTS=1.
"""

import json
from typing import Any

import pytest

from conftest import Persona, screenshot
from stores.models import WebhookDelivery, WebhookEndpoint
from stores.tests.receiver import receiving
from stores.webhooks.signing import verify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _private_urls(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1


def test_add_an_endpoint_ping_it_and_read_the_delivery(page: Any, owner: Persona) -> None:
    page.goto("/portal/")
    page.get_by_label("Email").fill(owner.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{owner.store.public_id}/")

    page.get_by_role("link", name="Webhooks", exact=True).click()
    page.wait_for_url(f"**/portal/{owner.store.public_id}/webhooks")
    assert page.get_by_label("All events").is_checked()
    with receiving() as receiver:
        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_label("Description").fill("Order system")
        page.get_by_role("button", name="Add endpoint").click()

        secret = page.get_by_label("Signing secret", exact=True).input_value()
        endpoint = WebhookEndpoint.objects.get(store=owner.store)
        assert secret == endpoint.secret
        assert secret.startswith("whsec_")
        assert "X-Genvoris-Signature" in page.inner_text('[data-testid="new-secret"]')
        screenshot(page, "portal-webhook-created")

        page.get_by_role("button", name="Send test ping").click()
        assert "Test ping delivered" in page.inner_text(".messages")
        (arrived,) = receiver.received
    assert verify(arrived.headers["x-genvoris-signature"], arrived.body, secret, now=int(arrived.at))
    assert json.loads(arrived.body)["type"] == "webhook.test"
    assert page.get_by_test_id("new-secret").count() == 0  # shown once
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    row = page.locator(f'tr[data-delivery="{delivery.public_id}"]')
    assert "webhook.test" in row.inner_text()
    assert "Succeeded" in row.inner_text()
    screenshot(page, "portal-webhook")

    row.get_by_role("link", name=delivery.public_id).click()
    page.wait_for_url(f"**/deliveries/{delivery.public_id}")
    attempt = page.locator('[data-testid="attempts"] tr[data-attempt="1"]')
    assert "200" in attempt.inner_text()
    assert "127.0.0.1" in attempt.inner_text()
    assert json.loads(page.inner_text('[data-testid="envelope"]'))["id"] == delivery.event.public_id
    screenshot(page, "portal-webhook-delivery")

    page.get_by_role("link", name="Webhooks", exact=True).first.click()
    page.wait_for_url(f"**/portal/{owner.store.public_id}/webhooks")
    assert "Order system" in page.inner_text('[data-testid="endpoints"]')
    screenshot(page, "portal-webhooks")
