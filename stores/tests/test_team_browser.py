"""The Team page in a real browser: an owner invites a developer, who chooses a password through
the emailed link, lands in the store, and sees no Team page of their own."""

import re
from typing import Any

import pytest
from django.core import mail

from conftest import Persona, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a fresh and long passphrase 42"


def test_owner_invites_a_developer(page: Any, owner: Persona) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(owner.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{owner.store.public_id}/")

    page.get_by_role("link", name="Team").click()
    page.get_by_label("Email").fill("dev@example.com")
    page.get_by_label("Role", exact=True).select_option("developer")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("Invitation sent to dev@example.com").wait_for()
    row = page.locator('tr[data-member="dev@example.com"]')
    assert "Invited" in row.inner_text()
    screenshot(page, "portal-team")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    (message,) = mail.outbox
    link = re.search(r"https?://\S+/accounts/set-password/\S+/", message.body)
    assert link
    page.goto(link.group(0))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url(f"**/portal/{owner.store.public_id}/")
    assert page.get_by_role("link", name="API keys").is_visible()
    assert page.get_by_role("link", name="Team").count() == 0
