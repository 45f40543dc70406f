"""Sign-in, the store switcher, API keys and credits in the merchant portal (stores/views.py,
stores/portal.py), and the one access rule of every portal page."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.http import Http404
from django.test import Client, RequestFactory
from django.urls import URLPattern, reverse
from django.utils import timezone

import quotas.portal_urls
import stores.portal_urls
import tryon.portal_urls
from conftest import Persona, Track
from stores.models import ApiKey, CreditLedgerEntry, CreditPack, Membership
from stores.portal import store_for_member
from stores.selectors import api_key_by_plaintext
from stores.services import COMMAND, credit_topup
from stores.tests.factories import ApiKeyFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def signed_in(client: Client, owner: Persona) -> Client:
    client.force_login(owner.user)
    return client


def url(name: str, persona: Persona, **kwargs: str) -> str:
    return reverse(name, kwargs={"store_id": persona.store.public_id, **kwargs})


class TestSignIn:
    def test_sign_in_lands_on_the_only_store(self, client: Client, owner: Persona) -> None:
        page = client.get("/accounts/login/")
        assert page.status_code == 200
        assert 'name="csrfmiddlewaretoken"' in page.content.decode()
        response = client.post("/accounts/login/", {"username": "Owner@Example.com ", "password": PASSWORD})
        assert response.status_code == 302
        assert response["Location"] == "/portal/"
        assert client.get("/portal/")["Location"] == url("portal-overview", owner)

    def test_next_is_honoured(self, client: Client, owner: Persona) -> None:
        target = url("portal-keys", owner)
        login = client.get(target)["Location"]
        assert login == f"/accounts/login/?next={target}"
        response = client.post(login, {"username": owner.user.username, "password": PASSWORD, "next": target})
        assert response["Location"] == target

    def test_wrong_password(self, client: Client, owner: Persona) -> None:
        response = client.post("/accounts/login/", {"username": owner.user.username, "password": "nope"})
        assert response.status_code == 200
        assert "That email and password do not match an account." in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_locked_out_after_repeated_failures(self, client: Client, owner: Persona, settings: object) -> None:
        for _ in range(5):
            client.post("/accounts/login/", {"username": owner.user.username, "password": "guess"})
        response = client.post("/accounts/login/", {"username": owner.user.username, "password": PASSWORD})
        assert response.status_code == 429
        assert "Too many failed sign-ins" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_lockout_is_per_username_and_address(self, client: Client, owner: Persona, outsider: Persona) -> None:
        for _ in range(5):
            client.post("/accounts/login/", {"username": owner.user.username, "password": "guess"})
        other = client.post("/accounts/login/", {"username": outsider.user.username, "password": PASSWORD})
        assert other.status_code == 302
        elsewhere = Client(REMOTE_ADDR="203.0.113.9")
        mine = elsewhere.post("/accounts/login/", {"username": owner.user.username, "password": PASSWORD})
        assert mine.status_code == 302

    def test_sign_out_is_a_post(self, signed_in: Client, owner: Persona) -> None:
        response = signed_in.post("/accounts/logout/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/"
        assert signed_in.get(url("portal-overview", owner)).status_code == 302

    def test_signed_in_user_skips_the_form(self, signed_in: Client) -> None:
        assert signed_in.get("/accounts/login/")["Location"] == "/portal/"


class TestSwitcher:
    def test_several_stores_get_a_list(self, signed_in: Client, owner: Persona) -> None:
        second = StoreFactory(name="Second Shop")
        Membership.objects.create(user=owner.user, store=second, role=Membership.Role.DEVELOPER)
        StoreFactory(name="Not Mine")
        response = signed_in.get("/portal/")
        html = response.content.decode()
        assert response.status_code == 200
        assert "Second Shop" in html
        assert "Owner Shop" in html
        assert "Not Mine" not in html
        overview = signed_in.get(url("portal-overview", owner)).content.decode()
        assert 'class="switcher"' in overview
        assert reverse("portal-overview", args=[second.public_id]) in overview

    def test_no_store(self, client: Client) -> None:
        client.force_login(UserFactory())
        assert "Your account has no store yet" in client.get("/portal/").content.decode()

    def test_needs_sign_in(self, client: Client) -> None:
        assert client.get("/portal/")["Location"] == "/accounts/login/?next=/portal/"


class TestStoreForMember:
    def test_member_gets_the_store(self, owner: Persona) -> None:
        request = RequestFactory().get("/")
        request.user = owner.user
        assert store_for_member(request, owner.store.public_id) == owner.store

    def test_anyone_else_gets_404(self, owner: Persona, outsider: Persona) -> None:
        request = RequestFactory().get("/")
        request.user = outsider.user
        with pytest.raises(Http404):
            store_for_member(request, owner.store.public_id)
        with pytest.raises(Http404):
            store_for_member(request, "st_does_not_exist")


class TestApiKeys:
    def test_lists_keys(self, signed_in: Client, owner: Persona, outsider: Persona) -> None:
        response = signed_in.get(url("portal-keys", owner))
        html = response.content.decode()
        assert {k.public_id for k in response.context["keys"]} == {owner.key.public_id, owner.publishable.public_id}
        assert owner.key.prefix in html
        assert outsider.key.prefix not in html
        assert owner.secret not in html  # a key's plaintext is never on the page after its creation
        assert response["Cache-Control"].startswith("max-age=0")

    def test_created_key_is_shown_once(self, signed_in: Client, owner: Persona) -> None:
        body = {"label": "Backend", "kind": "secret", "allowed_domains": "shop.example.com\n*.example.org, "}
        response = signed_in.post(url("portal-key-create", owner), body)
        assert response.status_code == 302
        assert response["Location"] == url("portal-keys", owner)

        shown = signed_in.get(url("portal-keys", owner))
        plaintext = shown.context["revealed"]["plaintext"]
        key = api_key_by_plaintext(plaintext)
        assert key is not None
        assert key.store == owner.store
        assert (key.label, key.kind, key.allowed_domains) == (
            "Backend",
            "secret",
            ["shop.example.com", "*.example.org"],
        )
        assert plaintext in shown.content.decode()
        assert "no-store" in shown["Cache-Control"]

        again = signed_in.get(url("portal-keys", owner))
        assert again.context["revealed"] is None
        assert plaintext not in again.content.decode()
        assert key.prefix in again.content.decode()

    def test_publishable_key(self, signed_in: Client, owner: Persona) -> None:
        signed_in.post(url("portal-key-create", owner), {"label": "Widget", "kind": "publishable"})
        plaintext = signed_in.get(url("portal-keys", owner)).context["revealed"]["plaintext"]
        assert plaintext.startswith("gvk_pub_")

    def test_invalid_domain_is_refused(self, signed_in: Client, owner: Persona) -> None:
        before = ApiKey.objects.count()
        body = {"label": "Bad", "kind": "secret", "allowed_domains": "shop_example!.com"}
        response = signed_in.post(url("portal-key-create", owner), body)
        assert response.status_code == 400
        assert response.context["form"].errors["allowed_domains"]
        assert ApiKey.objects.count() == before

    def test_invalid_kind_is_refused(self, signed_in: Client, owner: Persona) -> None:
        response = signed_in.post(url("portal-key-create", owner), {"kind": "root"})
        assert response.status_code == 400

    def test_revoke_asks_then_revokes(self, signed_in: Client, owner: Persona, track: object) -> None:
        confirm = signed_in.get(url("portal-key-revoke", owner, key_id=owner.key.public_id))
        assert confirm.status_code == 200
        assert "Revoke this key?" in confirm.content.decode()
        owner.key.refresh_from_db()
        assert owner.key.active

        response = signed_in.post(url("portal-key-revoke", owner, key_id=owner.key.public_id), follow=True)
        owner.key.refresh_from_db()
        assert owner.key.active is False
        assert owner.key.revoked_at is not None
        assert "revoked" in response.content.decode()
        assert track({"api_key": owner.secret}).status_code == 401  # type: ignore[operator]

    def test_refusals_a_stranger_caused_are_listed_for_the_merchant(
        self, signed_in: Client, owner: Persona, track: Track
    ) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"], label="Widget")
        for _ in range(3):
            track({"api_key": key.plaintext, "origin": "https://evil.example"})
        page = signed_in.get(url("portal-keys", owner)).content.decode()
        assert "Refused requests, last 24 hours" in page
        assert "evil.example" in page
        assert "Origin not on the allowlist" in page
        assert "Unlock" not in page

    def test_no_refusals_say_so(self, signed_in: Client, owner: Persona) -> None:
        assert "No refused requests" in signed_in.get(url("portal-keys", owner)).content.decode()

    def test_revoke_and_create_are_post_only_and_csrf_protected(self, owner: Persona) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(owner.user)
        assert client.post(url("portal-key-revoke", owner, key_id=owner.key.public_id)).status_code == 403
        assert client.post(url("portal-key-create", owner), {"kind": "secret"}).status_code == 403
        assert client.get(url("portal-key-create", owner)).status_code == 405
        owner.key.refresh_from_db()
        assert owner.key.active


class TestCredits:
    def test_packs_and_ledger(self, signed_in: Client, owner: Persona, track: object) -> None:
        credit_topup(store=owner.store, credits=500, actor=COMMAND, valid_days=30, note="Spring pack")
        track({"api_key": owner.secret})  # type: ignore[operator]
        response = signed_in.get(url("portal-credits", owner))
        assert response.status_code == 200
        packs = response.context["packs"]
        assert [p.public_id for p in packs] == list(
            CreditPack.objects.filter(store=owner.store)
            .order_by("-purchased_at", "-id")
            .values_list("public_id", flat=True)
        )
        assert sum(p.remaining for p in packs) == 599
        credits = response.context["credits"]
        assert (credits.balance, credits.live_credits) == (599, 600)
        assert credits.next_expiry.note == "Spring pack"
        entries = list(response.context["ledger"].object_list)
        assert [e.delta for e in entries] == [500, 100]
        assert sum(e.delta for e in CreditLedgerEntry.objects.filter(store=owner.store)) == 600
        html = response.content.decode()
        assert "+500" in html
        assert "Spring pack" in html

    def test_prices_read_as_money_with_the_currency(self, signed_in: Client, owner: Persona, settings: object) -> None:
        """Found in issue 13: "0.0800" beside "0", no currency. Now "$0.08" beside "Free"."""
        CreditPack.objects.filter(store=owner.store).update(price_per_credit=Decimal("0.0800"))
        credit_topup(store=owner.store, credits=5, actor=COMMAND, note="Goodwill")  # price 0
        credit_topup(store=owner.store, credits=5, actor=COMMAND, price_per_credit=Decimal("12"))
        html = signed_in.get(url("portal-credits", owner)).content.decode()
        cells = re.findall(r'<td class="num">([^<]*)</td>\s*</tr>', html)
        assert cells == ["$12", "Free", "$0.08"]  # newest pack first
        assert "0.0800" not in html
        settings.BILLING_CURRENCY = "EUR"  # type: ignore[attr-defined]
        assert "€0.08" in signed_in.get(url("portal-credits", owner)).content.decode()

    def test_the_ledger_explains_its_balance_after(self, signed_in: Client, owner: Persona, track: Track) -> None:
        """Found in issue 13: "balance after" moved by more than the top-up, since try-on debits
        are not ledger rows. The page says so under the heading, and the figures bear it out."""
        track({"api_key": owner.secret})
        track({"api_key": owner.secret})
        credit_topup(store=owner.store, credits=10, actor=COMMAND)
        response = signed_in.get(url("portal-credits", owner))
        newer, older = response.context["ledger"].object_list[:2]
        assert (older.balance_after, newer.delta, newer.balance_after) == (100, 10, 108)
        note = re.search(r'data-testid="ledger-note">([^<]*)<', response.content.decode())
        assert note is not None
        assert "try-ons debited since the row before" in note.group(1)

    def test_expired_pack_is_marked(self, signed_in: Client, owner: Persona) -> None:
        CreditPack.objects.filter(store=owner.store).update(expires_at=timezone.now() - timedelta(days=1))
        assert "Expired" in signed_in.get(url("portal-credits", owner)).content.decode()

    def test_empty(self, client: Client) -> None:
        user, store = UserFactory(), StoreFactory()
        Membership.objects.create(user=user, store=store)
        client.force_login(user)
        html = client.get(reverse("portal-credits", args=[store.public_id])).content.decode()
        assert "No credit packs yet" in html
        assert "No balance changes yet" in html


def stores_urls(owner: Persona) -> list[tuple[str, str]]:
    key = owner.key.public_id
    return [
        ("get", url("portal-keys", owner)),
        ("post", url("portal-key-create", owner)),
        ("get", url("portal-key-revoke", owner, key_id=key)),
        ("post", url("portal-key-revoke", owner, key_id=key)),
        ("get", url("portal-credits", owner)),
        ("get", url("portal-audit", owner)),
    ]


def test_every_page_and_post_is_404_for_an_outsider(client: Client, owner: Persona, outsider: Persona) -> None:
    client.force_login(outsider.user)
    before = ApiKey.objects.filter(store=owner.store).count()
    for method, path in stores_urls(owner):
        assert getattr(client, method)(path, {"kind": "secret"} if method == "post" else None).status_code == 404
    owner.key.refresh_from_db()
    assert owner.key.active
    assert ApiKey.objects.filter(store=owner.store).count() == before


def test_another_store_s_key_under_my_store_is_404(signed_in: Client, owner: Persona, outsider: Persona) -> None:
    foreign = outsider.key.public_id
    assert signed_in.get(url("portal-key-revoke", owner, key_id=foreign)).status_code == 404
    assert signed_in.post(url("portal-key-revoke", owner, key_id=foreign)).status_code == 404
    outsider.key.refresh_from_db()
    assert outsider.key.active


def test_every_page_needs_sign_in(client: Client, owner: Persona) -> None:
    for method, path in stores_urls(owner):
        response = getattr(client, method)(path)
        assert response.status_code == 302, (method, path)
        assert response["Location"].startswith("/accounts/login/"), (method, path)


def test_every_portal_route_is_covered_by_an_access_test() -> None:
    """A new portal page must join one of the outsider tests (here or in tryon/quotas)."""
    names = {
        p.name
        for module in (stores.portal_urls, quotas.portal_urls, tryon.portal_urls)
        for p in module.urlpatterns
        if isinstance(p, URLPattern)
    }
    covered = {
        "portal-keys", "portal-key-create", "portal-key-revoke", "portal-credits", "portal-audit",
        "portal-plans", "portal-plan-edit", "portal-plan-disable", "portal-plan-enable",
        "portal-overview", "portal-events", "portal-events-csv", "portal-products", "portal-customers",
        # stores/tests/test_webhooks_portal.py
        "portal-webhooks", "portal-webhook-create", "portal-webhook", "portal-webhook-edit",
        "portal-webhook-disable", "portal-webhook-enable", "portal-webhook-delete", "portal-webhook-rotate",
        "portal-webhook-test", "portal-webhook-delivery", "portal-webhook-delivery-resend",
        # tryon/tests/test_integration.py
        "portal-integration", "portal-integration-test",
        # tryon/tests/test_analytics_portal.py
        "portal-analytics", "portal-analytics-csv",
        # stores/tests/test_team.py
        "portal-team", "portal-team-invite", "portal-team-role", "portal-team-remove",
        # quotas/tests/test_portal_customers.py
        "portal-customer", "portal-customer-pause", "portal-customer-resume", "portal-customer-plan",
        "portal-customer-reset",
    }  # fmt: skip
    assert names == covered
