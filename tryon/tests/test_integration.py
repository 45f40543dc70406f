"""The portal's Integration page (tryon/integration.py): the exact snippet, the button designer,
the backend settings, and the test try-on that runs the reference flow for real."""

import base64
import hashlib
import html
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import INTERNAL_SECRET, Persona
from stores.models import ApiKey, AuditEntry, ButtonDesign, CreditPack
from stores.selectors import button_design_json, button_design_of
from stores.services import SYSTEM, api_key_revoke, store_suspend
from stores.tests.factories import ApiKeyFactory
from tryon.integration import ICONS, TEST_TITLE, reported_origin
from tryon.models import TryOnEvent
from tryon.widget import WIDGET_FILE, widget_bundle

pytestmark = pytest.mark.django_db

DESIGN = {
    "label": "Essayer",
    "icon": "eye",
    "borderRadius": 20,
    "fontSize": 16,
    "paddingX": 24,
    "paddingY": 12,
    "position": "floating-left",
    "showOnCards": "on",
}


@pytest.fixture
def signed_in(client: Client, owner: Persona) -> Client:
    client.force_login(owner.user)
    return client


def page(persona: Persona, name: str = "portal-integration") -> str:
    return reverse(name, args=[persona.store.public_id])


def textarea(body: str, element_id: str) -> str:
    match = re.search(rf'<textarea id="{element_id}"[^>]*>(.*?)</textarea>', body, re.S)
    assert match, element_id
    return html.unescape(match[1])


def form_token(body: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', body)
    assert match
    return match[1]


# --- the snippet -----------------------------------------------------------------------------------


class TestSnippet:
    def test_the_store_s_exact_snippet(self, signed_in: Client, owner: Persona) -> None:
        body = signed_in.get(page(owner)).content.decode()
        bundle = widget_bundle()
        guest = textarea(body, "snippet-guest")
        assert f'src="http://testserver/widget-{bundle.version}.js"' in guest
        assert f'integrity="{bundle.sha384}"' in guest
        assert 'crossorigin="anonymous"' in guest
        assert f'data-api-key="{owner.publishable.plaintext}"' in guest  # type: ignore[attr-defined]
        assert 'class="genvoris-tryon-btn"' in guest
        assert "\n  Try On\n" in guest
        assert "data-end-customer-token" not in guest
        member = textarea(body, "snippet-member")
        assert member.replace('  data-end-customer-token="<%= sessionToken %>"\n', "") == guest
        served = b"".join(signed_in.get(f"/widget-{bundle.version}.js"))
        digest = base64.b64encode(hashlib.sha384(served).digest()).decode()
        assert bundle.sha384 == f"sha384-{digest}"  # the hash of the very bytes served (the minified build)

    def test_the_pinned_url_it_prints_serves_that_script(self, signed_in: Client, owner: Persona) -> None:
        url = re.search(
            r'src="http://testserver(/widget-[^"]+)"',
            textarea(signed_in.get(page(owner)).content.decode(), "snippet-guest"),
        )
        assert url
        served = signed_in.get(url[1])
        assert served.status_code == 200
        assert b"".join(served) == widget_bundle().content

    def test_the_snippet_carries_the_saved_label_escaped(self, signed_in: Client, owner: Persona) -> None:
        signed_in.post(page(owner), {**DESIGN, "label": 'Try <b>"on"</b>'})
        guest = textarea(signed_in.get(page(owner)).content.decode(), "snippet-guest")
        assert "  Try &lt;b&gt;&quot;on&quot;&lt;/b&gt;\n" in guest

    def test_another_store_s_key_is_never_printed(self, signed_in: Client, owner: Persona, outsider: Persona) -> None:
        body = signed_in.get(page(owner) + f"?key={outsider.publishable.public_id}").content.decode()
        assert outsider.publishable.plaintext not in body  # type: ignore[attr-defined]
        assert owner.publishable.plaintext in body  # type: ignore[attr-defined]

    def test_a_choice_of_keys(self, signed_in: Client, owner: Persona) -> None:
        newer = ApiKeyFactory(store=owner.store, kind=ApiKey.Kind.PUBLISHABLE, label="Second shop")
        body = signed_in.get(page(owner)).content.decode()
        assert f'data-api-key="{newer.plaintext}"' in textarea(body, "snippet-guest")  # the newest by default
        chosen = signed_in.get(page(owner) + f"?key={owner.publishable.public_id}").content.decode()
        assert f'data-api-key="{owner.publishable.plaintext}"' in textarea(chosen, "snippet-guest")  # type: ignore[attr-defined]
        assert "Second shop" in chosen

    def test_no_secret_is_ever_printed(self, signed_in: Client, owner: Persona) -> None:
        body = signed_in.get(page(owner)).content.decode()
        assert owner.secret not in body
        assert INTERNAL_SECRET not in body
        assert "test-internal-secret-next" not in body
        settings_block = textarea(body, "backend-settings")
        assert "TRYON_TRACK_URL=http://testserver/api/tryon/track" in settings_block
        assert "\nTRYON_INTERNAL_SECRET=\n" in settings_block
        assert "Configured on this server (2 accepted while one rotates)" in body

    def test_without_an_internal_secret_it_says_so(self, signed_in: Client, owner: Persona, settings: Any) -> None:
        settings.TRYON_INTERNAL_SECRET = []
        assert "Not configured on this server" in signed_in.get(page(owner)).content.decode()

    def test_without_a_publishable_key_it_says_how_to_make_one(self, signed_in: Client, owner: Persona) -> None:
        api_key_revoke(key=owner.publishable)
        response = signed_in.get(page(owner))
        body = response.content.decode()
        assert response.status_code == 200
        assert "Your store has no publishable key yet" in body
        assert reverse("portal-keys", args=[owner.store.public_id]) in body
        assert 'data-api-key="gvk_pub_…"' in textarea(body, "snippet-guest")
        assert reverse("portal-integration-test", args=[owner.store.public_id]) not in body

    def test_a_key_made_before_values_were_kept(self, signed_in: Client, owner: Persona) -> None:
        ApiKey.objects.filter(pk=owner.publishable.pk).update(public_value="")
        body = signed_in.get(page(owner)).content.decode()
        assert "created before the portal kept them readable" in body
        assert owner.publishable.prefix in body

    def test_publishable_keys_keep_their_value_and_secret_keys_never(self, owner: Persona) -> None:
        owner.publishable.refresh_from_db()
        owner.key.refresh_from_db()
        assert owner.publishable.public_value == owner.publishable.plaintext  # type: ignore[attr-defined]
        assert owner.key.public_value == ""


def test_the_preview_draws_the_widget_s_own_icons() -> None:
    source = WIDGET_FILE.read_text()
    block = re.search(r"const ICONS = \{(.*?)\};", source, re.S)
    assert block
    in_widget = dict(re.findall(r'(\w+): "([^"]+)"', block[1]))
    assert in_widget == ICONS
    assert set(ICONS) | {"none"} == set(ButtonDesign.Icon.values)


# --- the button designer --------------------------------------------------------------------------


class TestDesigner:
    def test_the_form_shows_the_saved_design(self, signed_in: Client, owner: Persona) -> None:
        response = signed_in.get(page(owner))
        form = response.context["form"]
        assert form.initial == button_design_json(button_design_of(owner.store))
        assert response.context["section"] == "integration"
        assert 'aria-current="page"' in response.content.decode()

    def test_saving(self, signed_in: Client, owner: Persona) -> None:
        response = signed_in.post(page(owner), DESIGN, follow=True)
        assert response.redirect_chain == [(page(owner), 302)]
        assert "Button design saved" in response.content.decode()
        assert button_design_json(button_design_of(owner.store)) == {**DESIGN, "showOnCards": True}
        entry = AuditEntry.objects.get(action=AuditEntry.Action.BUTTON_DESIGN_UPDATED)
        assert entry.actor == owner.user.email
        assert entry.actor_user == owner.user
        assert entry.detail["position"] == ["inline", "floating-left"]
        assert response.context["design"]["label"] == "Essayer"

    def test_unticking_show_on_cards(self, signed_in: Client, owner: Persona) -> None:
        signed_in.post(page(owner), DESIGN)
        signed_in.post(page(owner), {k: v for k, v in DESIGN.items() if k != "showOnCards"})
        assert button_design_of(owner.store).show_on_cards is False

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("label", ""),
            ("label", "   "),
            ("label", "x" * 21),
            ("label", "Try\u0007On"),
            ("icon", "rocket"),
            ("borderRadius", "41"),
            ("borderRadius", "-1"),
            ("fontSize", "9"),
            ("fontSize", "abc"),
            ("paddingX", "61"),
            ("paddingY", "3"),
            ("paddingY", "4.5"),
            ("position", "top"),
        ],
    )
    def test_form_errors_save_nothing(self, signed_in: Client, owner: Persona, field: str, value: str) -> None:
        response = signed_in.post(page(owner), {**DESIGN, field: value})
        assert response.status_code == 400
        assert response.context["form"].errors[field]
        assert "Please correct the fields marked below." in response.content.decode()
        assert not ButtonDesign.objects.exists()
        assert not AuditEntry.objects.filter(action=AuditEntry.Action.BUTTON_DESIGN_UPDATED).exists()

    def test_a_refused_form_previews_what_passed(self, signed_in: Client, owner: Persona) -> None:
        response = signed_in.post(page(owner), {**DESIGN, "fontSize": "99"})
        assert response.context["design"]["label"] == "Essayer"
        assert response.context["design"]["fontSize"] == 14
        assert "Preview (not saved)" in response.content.decode()


# --- send a test try-on -----------------------------------------------------------------------------


class TestTestTryOn:
    def test_it_asks_first(self, signed_in: Client, owner: Persona) -> None:
        response = signed_in.get(page(owner, "portal-integration-test"))
        body = response.content.decode()
        assert response.status_code == 200
        assert "This uses one real credit" in body
        assert "Send test try-on (uses 1 credit)" in body
        assert owner.publishable.prefix in body
        assert not TryOnEvent.objects.exists()
        owner.refresh()
        assert owner.store.credit_balance == 100

    def test_sending_debits_one_credit_and_shows_the_result(self, signed_in: Client, owner: Persona) -> None:
        token = form_token(signed_in.get(page(owner, "portal-integration-test")).content.decode())
        response = signed_in.post(
            page(owner, "portal-integration-test"), {"key": owner.publishable.public_id, "token": token}
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert "It works" in body
        assert re.search(r'<img class="test-result__image" src="data:image/jpeg;base64,[A-Za-z0-9+/=]{1000,}"', body)
        assert '<strong data-testid="balance">99</strong>' in body
        owner.refresh()
        assert owner.store.credit_balance == 99
        assert sum(CreditPack.objects.filter(store=owner.store).values_list("remaining", flat=True)) == 99
        event = TryOnEvent.objects.get()
        assert (event.api_key_id, event.product_title, event.debited, event.end_customer_id) == (
            owner.publishable.pk,
            TEST_TITLE,
            True,
            None,
        )
        assert event.origin == "http://testserver"
        assert event.page_url == f"http://testserver{page(owner)}"

    def test_a_reload_never_debits_twice(self, signed_in: Client, owner: Persona) -> None:
        token = form_token(signed_in.get(page(owner, "portal-integration-test")).content.decode())
        form = {"key": owner.publishable.public_id, "token": token}
        assert signed_in.post(page(owner, "portal-integration-test"), form).status_code == 200
        again = signed_in.post(page(owner, "portal-integration-test"), form, follow=True)
        assert "already sent" in again.content.decode()
        owner.refresh()
        assert owner.store.credit_balance == 99
        assert TryOnEvent.objects.count() == 1

    def test_the_same_token_from_another_session_never_debits_twice(self, signed_in: Client, owner: Persona) -> None:
        """A second session (or a double click racing past the session check) sends the same
        Idempotency-Key: track binds it to the first answer, so no second credit can go."""
        token = form_token(signed_in.get(page(owner, "portal-integration-test")).content.decode())
        form = {"key": owner.publishable.public_id, "token": token}
        signed_in.post(page(owner, "portal-integration-test"), form)
        other = Client()
        other.force_login(owner.user)
        result = other.post(page(owner, "portal-integration-test"), form).content.decode()
        assert "It works" in result or "Nothing was charged." in result
        owner.refresh()
        assert owner.store.credit_balance == 99
        assert TryOnEvent.objects.count() == 1

    def test_with_no_credits_nothing_is_charged(self, signed_in: Client, owner: Persona) -> None:
        CreditPack.objects.filter(store=owner.store).update(remaining=0)
        type(owner.store).objects.filter(pk=owner.store.pk).update(credit_balance=0)
        body = signed_in.get(page(owner, "portal-integration-test")).content.decode()
        assert "Your balance is 0" in body
        response = signed_in.post(
            page(owner, "portal-integration-test"), {"key": owner.publishable.public_id, "token": form_token(body)}
        )
        result = response.content.decode()
        assert "402 credit_limit_reached" in result
        assert "Nothing was charged." in result
        assert TryOnEvent.objects.get().outcome == TryOnEvent.Outcome.CREDIT_LIMIT_REACHED

    def test_a_suspended_store_is_refused(self, signed_in: Client, owner: Persona) -> None:
        store_suspend(store=owner.store, note="unpaid", actor=SYSTEM)
        body = signed_in.get(page(owner, "portal-integration-test")).content.decode()
        result = signed_in.post(
            page(owner, "portal-integration-test"), {"key": owner.publishable.public_id, "token": form_token(body)}
        ).content.decode()
        assert "403 account_inactive" in result
        owner.refresh()
        assert owner.store.credit_balance == 100

    def test_a_key_with_an_allowlist_is_sent_from_its_first_domain(self, signed_in: Client, owner: Persona) -> None:
        key = ApiKeyFactory(
            store=owner.store, kind=ApiKey.Kind.PUBLISHABLE, allowed_domains=["*.shop.example", "b.example"]
        )
        test_page = page(owner, "portal-integration-test")
        body = signed_in.get(f"{test_page}?key={key.public_id}").content.decode()
        assert "https://www.shop.example" in body
        signed_in.post(test_page, {"key": key.public_id, "token": form_token(body)})
        event = TryOnEvent.objects.get()
        assert (event.origin, event.debited) == ("https://www.shop.example", True)
        assert reported_origin(ApiKey(allowed_domains=["b.example"]), "http://x") == "https://b.example"

    def test_a_generator_failure_is_reported_and_not_charged(
        self, signed_in: Client, owner: Persona, settings: Any
    ) -> None:
        settings.TRYON_GENERATOR = "tryon.tests.test_backend.BrokenGenerator"
        body = signed_in.get(page(owner, "portal-integration-test")).content.decode()
        result = signed_in.post(
            page(owner, "portal-integration-test"), {"key": owner.publishable.public_id, "token": form_token(body)}
        ).content.decode()
        assert "503 unavailable" in result
        assert "Nothing was charged." in result
        assert TryOnEvent.objects.get().outcome == TryOnEvent.Outcome.FAILED
        owner.refresh()
        assert owner.store.credit_balance == 100

    @pytest.mark.parametrize(
        "form", [{"token": "short"}, {"token": "a" * 23 + "!"}, {"key": "key_01j0000000000000000000000z"}]
    )
    def test_a_bad_form_sends_nothing(self, signed_in: Client, owner: Persona, form: dict[str, str]) -> None:
        good = {"key": owner.publishable.public_id, "token": "a" * 24}
        response = signed_in.post(page(owner, "portal-integration-test"), {**good, **form}, follow=True)
        assert "Nothing was sent" in response.content.decode()
        assert not TryOnEvent.objects.exists()

    def test_a_revoked_key_sends_nothing(self, signed_in: Client, owner: Persona) -> None:
        body = signed_in.get(page(owner, "portal-integration-test")).content.decode()
        api_key_revoke(key=owner.publishable)
        signed_in.post(
            page(owner, "portal-integration-test"), {"key": owner.publishable.public_id, "token": form_token(body)}
        )
        assert not TryOnEvent.objects.exists()

    def test_at_most_a_few_a_minute(self, signed_in: Client, owner: Persona, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("tryon.integration.TEST_TRYONS_PER_MINUTE", 1)
        url = page(owner, "portal-integration-test")
        for _ in range(2):
            token = form_token(signed_in.get(url).content.decode())
            last = signed_in.post(url, {"key": owner.publishable.public_id, "token": token}, follow=True)
        assert "At most 1 test try-ons a minute" in last.content.decode()
        assert TryOnEvent.objects.count() == 1

    def test_without_a_publishable_key(self, signed_in: Client, owner: Persona) -> None:
        api_key_revoke(key=owner.publishable)
        body = signed_in.get(page(owner, "portal-integration-test")).content.decode()
        assert "No publishable key to test with" in body


# --- access ---------------------------------------------------------------------------------------


def integration_urls(persona: Persona) -> list[tuple[str, str]]:
    return [
        ("get", page(persona)),
        ("post", page(persona)),
        ("get", page(persona, "portal-integration-test")),
        ("post", page(persona, "portal-integration-test")),
    ]


def test_every_integration_page_and_post_is_404_for_an_outsider(
    client: Client, owner: Persona, outsider: Persona
) -> None:
    client.force_login(outsider.user)
    form = {**DESIGN, "key": owner.publishable.public_id, "token": "a" * 24}
    for method, path in integration_urls(owner):
        response = getattr(client, method)(path, form if method == "post" else None)
        assert response.status_code == 404, (method, path)
        assert owner.publishable.plaintext not in response.content.decode()  # type: ignore[attr-defined]
    assert not ButtonDesign.objects.exists()
    assert not TryOnEvent.objects.exists()
    owner.refresh()
    assert owner.store.credit_balance == 100


def test_every_integration_page_needs_sign_in(client: Client, owner: Persona) -> None:
    for method, path in integration_urls(owner):
        response = getattr(client, method)(path)
        assert response.status_code == 302, (method, path)
        assert response["Location"].startswith("/accounts/login/"), (method, path)


def test_posts_are_csrf_protected(owner: Persona) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    form = {**DESIGN, "key": owner.publishable.public_id, "token": "a" * 24}
    for method, path in integration_urls(owner):
        if method == "post":
            assert client.post(path, form).status_code == 403, path
    assert not ButtonDesign.objects.exists()
    assert not TryOnEvent.objects.exists()


def test_every_integration_route_is_covered_here(owner: Persona) -> None:
    import tryon.portal_urls

    names = {p.name for p in tryon.portal_urls.urlpatterns if p.name and p.name.startswith("portal-integration")}
    assert names == {"portal-integration", "portal-integration-test"}
    assert {path for _, path in integration_urls(owner)} == {page(owner, name) for name in names}


def test_the_templates_need_no_inline_code() -> None:
    root = Path(__file__).resolve().parents[2] / "templates" / "tryon"
    for name in ["integration.html", "integration_test.html", "design_button.html"]:
        text = (root / name).read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", text), name
