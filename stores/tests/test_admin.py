"""Support staff's store console (SPEC §10): suspend, reactivate and top up through the admin
forms, with the books and the audit trail naming the staff user; keys without their hashes;
balances that no form can type."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import Persona, Track, make_persona
from genvoris.errors import ApiError
from genvoris.tests.admin_pages import admin_url, change_form_data, change_url, run_action
from stores.models import ApiKey, AuditEntry, CreditLedgerEntry, CreditPack, Store
from stores.services import SYSTEM, api_key_revoke, credit_adjust, store_reactivate, store_suspend
from stores.tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

STAFF_EMAIL = "admin@example.com"  # pytest-django's admin_user


def fresh(store: Store) -> Store:
    return Store.objects.get(pk=store.pk)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def books(store: Store) -> tuple[int, int, int, int]:
    """Everything a top-up writes: balance, packs, ledger entries, audit entries."""
    return (
        fresh(store).credit_balance,
        CreditPack.objects.filter(store=store).count(),
        CreditLedgerEntry.objects.filter(store=store).count(),
        AuditEntry.objects.filter(store=store).count(),
    )


class TestStoreList:
    def test_columns(self, admin_client: Client, owner: Persona, track: Track) -> None:
        track({"api_key": owner.secret, "product_title": "Wool coat"})
        response = admin_client.get(admin_url(Store, "changelist"))
        html = response.content.decode()
        assert response.status_code == 200
        assert owner.store.public_id in html
        assert "owner@example.com" in html  # the owner column
        assert ">99<" in html  # balance after one try-on
        store = next(s for s in response.context["cl"].result_list if s.pk == owner.store.pk)
        assert store.last_tryon_at is not None

    def test_a_store_without_try_ons_says_never(self, admin_client: Client, owner: Persona) -> None:
        html = admin_client.get(admin_url(Store, "changelist")).content.decode()
        assert "never" in html

    @pytest.mark.parametrize("query", ["Owner Sh", "owner@example.com", "OWNER@EXAMPLE", "st_"])
    def test_search_by_name_id_and_owner_email(
        self, admin_client: Client, owner: Persona, outsider: Persona, query: str
    ) -> None:
        query = owner.store.public_id if query == "st_" else query
        found = admin_client.get(admin_url(Store, "changelist"), {"q": query}).context["cl"].result_list
        assert [s.pk for s in found] == [owner.store.pk]

    def test_filter_by_status(self, admin_client: Client, owner: Persona, outsider: Persona) -> None:
        store_suspend(store=outsider.store, note="chargebacks", actor=SYSTEM)
        found = admin_client.get(admin_url(Store, "changelist"), {"status__exact": "suspended"}).context["cl"]
        assert [s.pk for s in found.result_list] == [outsider.store.pk]

    def test_the_list_costs_the_same_for_many_stores(
        self, admin_client: Client, owner: Persona, track: Track, django_assert_max_num_queries: Any
    ) -> None:
        track({"api_key": owner.secret})
        StoreFactory.create_batch(30)
        # Session, user, count, page, memberships prefetch, filters: no query per row.
        with django_assert_max_num_queries(10):
            admin_client.get(admin_url(Store, "changelist"))


SUSPEND = {"note": "Chargebacks on 3 orders", "message": "Your account is under review; please reply to our email."}


def log_messages(obj: Any) -> list[str]:
    """The admin's "Recent actions" (LogEntry) for `obj`, oldest first."""
    return [
        entry.get_change_message()
        for entry in LogEntry.objects.filter(object_id=str(obj.pk), content_type__model=obj._meta.model_name).order_by(
            "id"
        )
    ]


class TestSuspend:
    def test_choosing_the_action_asks_for_a_note_and_a_message(self, admin_client: Client, owner: Persona) -> None:
        response = run_action(admin_client, Store, "suspend_stores", [owner.store])
        html = response.content.decode()
        assert response.status_code == 200
        assert "Suspend stores" in html
        assert 'name="note"' in html
        assert 'name="message"' in html
        assert "the merchant never sees it" in html
        assert owner.store.public_id in html
        assert fresh(owner.store).status == Store.Status.ACTIVE

    @pytest.mark.parametrize("blank", ["note", "message"])
    def test_both_are_required(self, admin_client: Client, owner: Persona, blank: str) -> None:
        fields = {**SUSPEND, blank: "  "}
        response = run_action(admin_client, Store, "suspend_stores", [owner.store], apply="yes", **fields)
        assert response.status_code == 200
        assert response.context["form"].errors[blank]
        assert fresh(owner.store).status == Store.Status.ACTIVE
        assert not AuditEntry.objects.filter(action=AuditEntry.Action.STORE_SUSPENDED).exists()

    def test_suspends_with_the_note_and_message_and_records_who(
        self, admin_client: Client, admin_user: Any, owner: Persona, track: Track
    ) -> None:
        response = run_action(admin_client, Store, "suspend_stores", [owner.store], apply="yes", **SUSPEND)
        assert response.status_code == 302
        store = fresh(owner.store)
        assert store.status == Store.Status.SUSPENDED
        assert (store.suspended_note, store.suspended_message) == (SUSPEND["note"], SUSPEND["message"])
        assert store.suspended_at is not None
        entry = AuditEntry.objects.get(store=store, action=AuditEntry.Action.STORE_SUSPENDED)
        assert (entry.target, entry.actor, entry.actor_user) == (store.public_id, STAFF_EMAIL, admin_user)
        assert entry.detail == {"before": "active", "after": "suspended", **SUSPEND}
        assert entry.merchant_detail() == {"before": "active", "after": "suspended", "message": SUSPEND["message"]}
        assert any("Suspended" in m for m in messages_of(response))
        # Issue 13: "Recent actions" missed the suspension.
        assert [m.startswith("Suspended.") for m in log_messages(store)] == [True]
        refused = track({"api_key": owner.secret})
        assert refused.status_code == 403  # the track endpoint refuses it now, saying the message only
        assert refused.json()["detail"] == SUSPEND["message"]
        assert "Chargebacks" not in refused.content.decode()

    def test_the_portal_banner_shows_the_message_never_the_note(self, owner: Persona, client: Client) -> None:
        # Issue 13: the reason "shown to support colleagues" was shown word for word to the merchant.
        store_suspend(store=owner.store, actor=SYSTEM, **SUSPEND)
        client.force_login(owner.user)
        html = client.get(f"/portal/{owner.store.public_id}/").content.decode()
        assert "This store is suspended." in html
        assert SUSPEND["message"] in html
        assert SUSPEND["note"] not in html

    def test_already_suspended_stores_are_left_alone(self, admin_client: Client, owner: Persona) -> None:
        store_suspend(store=owner.store, note="first", message="first message", actor=SYSTEM)
        response = run_action(admin_client, Store, "suspend_stores", [owner.store], apply="yes", **SUSPEND)
        assert response.status_code == 302
        store = fresh(owner.store)
        assert (store.suspended_note, store.suspended_message) == ("first", "first message")
        assert "already suspended" in " ".join(messages_of(response))
        assert AuditEntry.objects.filter(action=AuditEntry.Action.STORE_SUSPENDED).count() == 1
        assert log_messages(store) == []

    def test_from_the_store_page_it_returns_there(self, admin_client: Client, owner: Persona) -> None:
        page = admin_client.get(change_url(owner.store)).content.decode()
        assert 'value="suspend_stores"' in page
        response = run_action(
            admin_client, Store, "suspend_stores", [owner.store], apply="yes", _return_to="change", **SUSPEND
        )
        assert response["Location"] == change_url(owner.store)


class TestReactivate:
    def test_choosing_the_action_asks_for_a_reason(self, admin_client: Client, owner: Persona) -> None:
        store_suspend(store=owner.store, note="fraud", actor=SYSTEM)
        response = run_action(admin_client, Store, "reactivate_stores", [owner.store])
        assert response.status_code == 200
        assert 'name="reason"' in response.content.decode()
        response = run_action(admin_client, Store, "reactivate_stores", [owner.store], apply="yes", reason=" ")
        assert response.context["form"].errors["reason"]
        assert fresh(owner.store).status == Store.Status.SUSPENDED

    def test_reactivates_and_records_who(self, admin_client: Client, admin_user: Any, owner: Persona) -> None:
        store_suspend(store=owner.store, note="fraud", message="Under review.", actor=SYSTEM)
        response = run_action(
            admin_client, Store, "reactivate_stores", [owner.store], apply="yes", reason="Cleared by risk team"
        )
        assert response.status_code == 302
        store = fresh(owner.store)
        assert (store.status, store.suspended_note, store.suspended_message, store.suspended_at) == (
            Store.Status.ACTIVE,
            "",
            "",
            None,
        )
        entry = AuditEntry.objects.filter(store=store).latest("id")
        assert (entry.action, entry.actor, entry.actor_user, entry.detail) == (
            AuditEntry.Action.STORE_REACTIVATED,
            STAFF_EMAIL,
            admin_user,
            {
                "before": "suspended",
                "after": "active",
                "reason": "Cleared by risk team",
                "previous_note": "fraud",
                "previous_message": "Under review.",
            },
        )
        assert "previous_note" not in entry.merchant_detail()
        assert log_messages(store) == ["Reactivated: Cleared by risk team"]

    def test_active_stores_are_left_alone(self, admin_client: Client, owner: Persona) -> None:
        response = run_action(admin_client, Store, "reactivate_stores", [owner.store], apply="yes", reason="x")
        assert "already active" in " ".join(messages_of(response))
        assert not AuditEntry.objects.filter(action=AuditEntry.Action.STORE_REACTIVATED).exists()


TOP_UP = {"credits": "500", "price_per_credit": "0.0400", "valid_days": "90", "note": "Invoice 2041"}


def shown_top_up(client: Client, stores: list[Store]) -> dict[str, Any]:
    """What a browser posts for the top-up form just shown for `stores`: TOP_UP, its one-time
    token, and the hidden fields that make it an applied action."""
    form = run_action(client, Store, "top_up_credits", stores).context["form"]
    return {**TOP_UP, "token": form["token"].value(), "apply": "yes"}


def top_up(client: Client, stores: list[Store], form: dict[str, Any]) -> Any:
    return run_action(client, Store, "top_up_credits", stores, **form)


def top_up_and_follow(client: Client, stores: list[Store], form: dict[str, Any]) -> list[str]:
    """Submit as a browser does, showing the page it is sent to: the messages of this top-up alone."""
    response = top_up(client, stores, form)
    assert response.status_code == 302
    return messages_of(client.get(response["Location"]))


class TestTopUp:
    def test_choosing_the_action_shows_the_form(self, admin_client: Client, owner: Persona) -> None:
        response = run_action(admin_client, Store, "top_up_credits", [owner.store])
        html = response.content.decode()
        assert response.status_code == 200
        for field in ("credits", "price_per_credit", "valid_days", "note"):
            assert f'name="{field}"' in html
        token = response.context["form"]["token"].value()
        assert f'<input type="hidden" name="token" value="{token}"' in html
        assert books(owner.store) == (100, 1, 1, 1)

    def test_adds_a_pack_the_ledger_and_the_trail(self, admin_client: Client, admin_user: Any, owner: Persona) -> None:
        before = timezone.now()
        response = top_up(admin_client, [owner.store], shown_top_up(admin_client, [owner.store]))
        assert response.status_code == 302
        assert fresh(owner.store).credit_balance == 600
        pack = CreditPack.objects.filter(store=owner.store).latest("id")
        assert (pack.credits, pack.remaining, pack.price_per_credit) == (500, 500, Decimal("0.04"))
        assert (pack.source, pack.note) == (CreditPack.Source.ADMIN, "Invoice 2041")
        assert before + timedelta(days=90) <= pack.expires_at <= timezone.now() + timedelta(days=90)
        entry = CreditLedgerEntry.objects.get(pack=pack)
        assert (entry.kind, entry.delta, entry.balance_after) == (CreditLedgerEntry.Kind.TOPUP, 500, 600)
        assert (entry.actor, entry.actor_user, entry.reason) == (STAFF_EMAIL, admin_user, "Invoice 2041")
        audit = AuditEntry.objects.get(store=owner.store, target=pack.public_id)
        assert (audit.action, audit.actor_user) == (AuditEntry.Action.CREDITS_TOPPED_UP, admin_user)
        assert audit.detail["credits"] == 500
        assert audit.detail["balance_after"] == 600
        assert "balance 600" in " ".join(messages_of(response))

    def test_tops_up_each_selected_store(self, admin_client: Client, owner: Persona, outsider: Persona) -> None:
        stores = [owner.store, outsider.store]
        top_up(admin_client, stores, shown_top_up(admin_client, stores))
        assert fresh(owner.store).credit_balance == fresh(outsider.store).credit_balance == 600

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("credits", "0", "between 1 and 10,000,000"),
            ("credits", "10000001", "between 1 and 10,000,000"),
            ("credits", "ten", "Enter a whole number"),
            ("price_per_credit", "-1", "from 0 to"),
            ("price_per_credit", "0.00001", "at most 4 decimals"),
            ("price_per_credit", "NaN", "Enter a number"),
            ("valid_days", "0", "between 1 and 3650"),
            ("valid_days", "", "This field is required"),
        ],
    )
    def test_bad_input_shows_the_form_again_and_changes_nothing(
        self, admin_client: Client, owner: Persona, outsider: Persona, field: str, value: str, message: str
    ) -> None:
        stores = [owner.store, outsider.store]
        response = top_up(admin_client, stores, {**shown_top_up(admin_client, stores), field: value})
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert message in " ".join(errors[field]), errors
        assert message in response.content.decode()
        assert books(owner.store) == (100, 1, 1, 1)  # the persona's initial top-up only
        assert books(outsider.store) == (100, 1, 1, 1)


ALREADY_APPLIED = "This top-up was already applied"


class TestTopUpSentTwice:
    """SPEC §19: the form carries a one-time token that its packs claim, so a second submission of
    one form (a double click, a reload, a second tab) adds nothing and says what the first did."""

    def test_the_same_form_twice_tops_up_once(self, admin_client: Client, owner: Persona) -> None:
        form = shown_top_up(admin_client, [owner.store])
        first = top_up_and_follow(admin_client, [owner.store], form)
        second = top_up_and_follow(admin_client, [owner.store], form)
        assert books(owner.store) == (600, 2, 2, 2)  # the persona's own pack, and this one
        pack = CreditPack.objects.filter(store=owner.store).latest("id")
        assert (pack.credits, pack.request_token) == (500, form["token"])
        assert CreditLedgerEntry.objects.filter(pack=pack).count() == 1
        assert AuditEntry.objects.filter(target=pack.public_id).count() == 1
        assert [m.startswith("Added 500 credits") and "balance 600" in m for m in first] == [True]
        [message] = second
        assert message.startswith(ALREADY_APPLIED)
        assert pack.public_id in message
        assert "500 credits" in message

    def test_from_the_store_page_the_repeat_returns_there_too(self, admin_client: Client, owner: Persona) -> None:
        form = {**shown_top_up(admin_client, [owner.store]), "_return_to": "change"}
        top_up(admin_client, [owner.store], form)
        second = top_up(admin_client, [owner.store], form)
        assert second["Location"] == change_url(owner.store)
        assert books(owner.store) == (600, 2, 2, 2)

    def test_for_several_stores_each_is_topped_up_once(
        self, admin_client: Client, owner: Persona, outsider: Persona
    ) -> None:
        stores = [owner.store, outsider.store]
        form = shown_top_up(admin_client, stores)
        top_up_and_follow(admin_client, stores, form)
        second = top_up_and_follow(admin_client, stores, form)
        assert books(owner.store) == books(outsider.store) == (600, 2, 2, 2)
        assert [m.startswith(ALREADY_APPLIED) for m in second] == [True, True]

    def test_a_form_corrected_after_a_refusal_tops_up_once(self, admin_client: Client, owner: Persona) -> None:
        form = shown_top_up(admin_client, [owner.store])
        refused = top_up(admin_client, [owner.store], {**form, "credits": "0"})
        assert refused.context["form"]["token"].value() == form["token"]  # shown again with its token
        assert top_up(admin_client, [owner.store], form).status_code == 302
        top_up(admin_client, [owner.store], form)
        assert books(owner.store) == (600, 2, 2, 2)

    def test_each_form_shown_is_a_new_top_up(self, admin_client: Client, owner: Persona) -> None:
        forms = [shown_top_up(admin_client, [owner.store]) for _ in range(2)]
        assert forms[0]["token"] != forms[1]["token"]
        for form in forms:
            assert top_up(admin_client, [owner.store], form).status_code == 302
        assert books(owner.store) == (1100, 3, 3, 3)

    @pytest.mark.parametrize("token", [None, "", "x" * 31, "not a token at all, but 32 chars!"])
    def test_a_form_without_its_token_changes_nothing(
        self, admin_client: Client, owner: Persona, token: str | None
    ) -> None:
        form = {**TOP_UP, "apply": "yes"} if token is None else {**TOP_UP, "apply": "yes", "token": token}
        response = top_up(admin_client, [owner.store], form)
        assert response.status_code == 200
        assert "open Top up credits again" in response.content.decode()
        assert books(owner.store) == (100, 1, 1, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
class TestTopUpSentAtOnce:
    @pytest.mark.parametrize("copies", [2, 5])
    def test_identical_posts_at_the_same_instant_top_up_once(self, admin_user: Any, copies: int) -> None:
        from tryon.tests.test_concurrency import run_at_once

        owner = make_persona("racer")
        clients = [Client() for _ in range(copies)]
        for client in clients:  # each its own session, as in as many tabs or browsers
            client.force_login(admin_user)
        form = shown_top_up(clients[0], [owner.store])

        def submit(index: int) -> tuple[int, list[str]]:
            response = top_up(clients[index], [owner.store], form)
            return response.status_code, messages_of(response)

        results = run_at_once(copies, submit)
        assert [status for status, _ in results] == [302] * copies
        said = sorted("added" if m[0].startswith("Added 500") else "already" for _, m in results)
        assert said == ["added"] + ["already"] * (copies - 1)
        assert books(owner.store) == (600, 2, 2, 2)
        assert CreditPack.objects.filter(store=owner.store, request_token=form["token"]).count() == 1


class TestStorePage:
    def test_shows_keys_packs_ledger_and_trail(self, admin_client: Client, owner: Persona) -> None:
        store_suspend(store=owner.store, note="fraud", actor=SYSTEM)
        html = admin_client.get(change_url(owner.store)).content.decode()
        for visible in (owner.key.prefix, owner.publishable.prefix, "Credit packs", "Credit ledger", "Audit trail"):
            assert visible in html
        assert "Store suspended" in html

    def test_no_balance_can_be_typed(self, admin_client: Client, owner: Persona) -> None:
        url = change_url(owner.store)
        data = change_form_data(admin_client, url)
        assert "credit_balance" not in data
        assert not [name for name in data if name.endswith(("-remaining", "-credits", "-delta", "-balance_after"))]
        data |= {"name": "Renamed Shop", "credit_balance": "999999", "status": "suspended"}
        response = admin_client.post(url, data)
        assert response.status_code == 302, response.context and response.context["adminform"].form.errors
        store = fresh(owner.store)
        assert (store.name, store.credit_balance, store.status) == ("Renamed Shop", 100, Store.Status.ACTIVE)

    def test_pack_remaining_cannot_be_posted(self, admin_client: Client, owner: Persona) -> None:
        url = change_url(owner.store)
        data = change_form_data(admin_client, url)
        pack = CreditPack.objects.get(store=owner.store)
        prefix = next(k[: -len("-TOTAL_FORMS")] for k in data if k.endswith("-TOTAL_FORMS") and "pack" in k)
        data |= {f"{prefix}-0-remaining": "5000", f"{prefix}-0-credits": "5000"}
        assert admin_client.post(url, data).status_code == 302
        pack.refresh_from_db()
        assert (pack.credits, pack.remaining) == (100, 100)

    def test_keys_can_be_relabelled_disabled_and_re_enabled(self, admin_client: Client, owner: Persona) -> None:
        # Issue 13: unticking Usable disables (not revokes); both changes are audited.
        url = change_url(owner.store)
        data = change_form_data(admin_client, url)
        index = next(k for k, v in data.items() if k.endswith("-id") and str(v) == str(owner.key.pk))[: -len("-id")]
        data[f"{index}-label"] = "Checkout server"
        data.pop(f"{index}-active")
        assert admin_client.post(url, data).status_code == 302
        key = ApiKey.objects.get(pk=owner.key.pk)
        assert (key.label, key.active, key.revoked_at) == ("Checkout server", False, None)

        data = change_form_data(admin_client, url)
        data[f"{index}-active"] = "on"
        assert admin_client.post(url, data).status_code == 302
        key.refresh_from_db()
        assert (key.active, key.revoked_at) == (True, None)
        actions = list(
            AuditEntry.objects.filter(target=key.public_id).order_by("id").values_list("action", "actor", "detail")
        )
        assert [(a, d.get("before"), d.get("after")) for a, _, d in actions] == [
            (AuditEntry.Action.API_KEY_RELABELED, "test key", "Checkout server"),
            (AuditEntry.Action.API_KEY_DISABLED, "active", "disabled"),
            (AuditEntry.Action.API_KEY_ENABLED, "disabled", "active"),
        ]
        assert all(actor and actor != "system" for _, actor, _ in actions)
        # The reason is in the merchant's trail: support, never the colleague's address (review finding).
        assert [d.get("reason") for _, _, d in actions[1:]] == ["Changed by Genvoris support in the admin"] * 2
        assert all(STAFF_EMAIL not in str(d) for _, _, d in actions)

    def test_a_revoked_key_stays_revoked_when_usable_is_ticked(self, admin_client: Client, owner: Persona) -> None:
        # Issue 13: a key the merchant revoked was re-enabled by ticking Usable.
        api_key_revoke(key=owner.key)
        url = change_url(owner.store)
        data = change_form_data(admin_client, url)
        index = next(k for k, v in data.items() if k.endswith("-id") and str(v) == str(owner.key.pk))[: -len("-id")]
        data[f"{index}-active"] = "on"
        assert admin_client.post(url, data).status_code == 302
        key = ApiKey.objects.get(pk=owner.key.pk)
        assert key.active is False
        assert key.revoked_at is not None

    def test_no_key_can_be_added_or_deleted(self, admin_client: Client, owner: Persona) -> None:
        url = change_url(owner.store)
        data = change_form_data(admin_client, url)
        prefix = next(k[: -len("-TOTAL_FORMS")] for k in data if k.endswith("-TOTAL_FORMS") and "key" in k)
        assert data[f"{prefix}-TOTAL_FORMS"] == data[f"{prefix}-INITIAL_FORMS"] == 2
        assert not [k for k in data if k.startswith(prefix) and k.endswith("-DELETE")]
        # A crafted extra form (a key with a typed secret) and a delete flag are both ignored.
        data |= {
            f"{prefix}-TOTAL_FORMS": 3,
            f"{prefix}-2-label": "typed",
            f"{prefix}-2-key_hash": "0" * 64,
            f"{prefix}-2-prefix": "gvk_live_typ",
            f"{prefix}-2-active": "on",
            f"{prefix}-0-DELETE": "on",
        }
        assert admin_client.post(url, data).status_code == 302
        assert ApiKey.objects.filter(store=owner.store).count() == 2

    def test_the_key_hash_is_on_no_page(self, admin_client: Client, owner: Persona, track: Track) -> None:
        track({"api_key": owner.secret})
        pages = [
            admin_url(Store, "changelist"),
            change_url(owner.store),
            admin_url(CreditPack, "changelist"),
            admin_url(CreditLedgerEntry, "changelist"),
            admin_url(AuditEntry, "changelist"),
        ]
        for url in pages:
            html = admin_client.get(url).content.decode()
            for key in (owner.key, owner.publishable):
                assert key.key_hash not in html, url
                assert key.plaintext not in html, url  # type: ignore[attr-defined]

    def test_stores_cannot_be_added_or_deleted(self, admin_client: Client, owner: Persona) -> None:
        assert admin_client.get(admin_url(Store, "add")).status_code == 403
        assert admin_client.post(admin_url(Store, "delete", owner.store.pk), {"post": "yes"}).status_code == 403
        assert Store.objects.filter(pk=owner.store.pk).exists()


@pytest.mark.parametrize("model", [CreditPack, CreditLedgerEntry, AuditEntry])
def test_books_and_trail_are_read_only(admin_client: Client, owner: Persona, model: Any) -> None:
    store_suspend(store=owner.store, note="fraud", actor=SYSTEM)
    row = model.objects.filter(store=owner.store).first()
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.get(change_url(row)).status_code == 200  # view only
    assert 'type="submit"' not in admin_client.get(change_url(row)).content.decode().split('id="content-main"')[1]
    assert admin_client.post(change_url(row), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_ledger_filters_by_kind(admin_client: Client, owner: Persona) -> None:
    cl = admin_client.get(admin_url(CreditLedgerEntry, "changelist"), {"kind__exact": "topup"}).context["cl"]
    assert [e.kind for e in cl.result_list] == ["topup"]
    cl = admin_client.get(admin_url(CreditLedgerEntry, "changelist"), {"kind__exact": "expiry"}).context["cl"]
    assert list(cl.result_list) == []


def test_audit_filters_by_action_and_store(admin_client: Client, owner: Persona, outsider: Persona) -> None:
    store_suspend(store=owner.store, note="fraud", actor=SYSTEM)
    url = admin_url(AuditEntry, "changelist")
    cl = admin_client.get(url, {"action__exact": "store.suspended"}).context["cl"]
    assert [e.store_id for e in cl.result_list] == [owner.store.pk]
    cl = admin_client.get(url, {"store__id__exact": outsider.store.pk}).context["cl"]
    assert {e.action for e in cl.result_list} == {AuditEntry.Action.CREDITS_TOPPED_UP}


def test_the_console_is_branded(admin_client: Client) -> None:
    html = admin_client.get("/admin/").content.decode()
    assert "Genvoris support" in html
    assert "genvoris/admin.css" in html


class TestStoreSettingsAudited:
    def test_name_and_threshold_changes_write_an_audit_entry(
        self, admin_client: Client, admin_user: Any, owner: Persona
    ) -> None:
        # Issue 13: changing a store's name or threshold in the admin wrote no audit entry.
        url = change_url(owner.store)
        data = change_form_data(admin_client, url) | {"name": "Renamed Shop", "low_balance_threshold": "25"}
        assert admin_client.post(url, data).status_code == 302
        store = fresh(owner.store)
        assert (store.name, store.low_balance_threshold) == ("Renamed Shop", 25)
        entry = AuditEntry.objects.get(store=store, action=AuditEntry.Action.STORE_UPDATED)
        assert (entry.target, entry.actor, entry.actor_user) == (store.public_id, STAFF_EMAIL, admin_user)
        assert entry.detail == {"name": [owner.store.name, "Renamed Shop"], "low_balance_threshold": [100, 25]}
        assert len(log_messages(store)) == 1  # Django's own change message in Recent actions

    def test_a_save_that_changes_nothing_writes_no_entry(self, admin_client: Client, owner: Persona) -> None:
        url = change_url(owner.store)
        assert admin_client.post(url, change_form_data(admin_client, url)).status_code == 302
        assert not AuditEntry.objects.filter(action=AuditEntry.Action.STORE_UPDATED).exists()


def shown_adjust(
    client: Client, store: Store, delta: str, reason: str = "Goodwill: slow generations"
) -> dict[str, Any]:
    form = run_action(client, Store, "adjust_credits", [store]).context["form"]
    return {"delta": delta, "reason": reason, "token": form["token"].value(), "apply": "yes"}


def adjust(client: Client, store: Store, form: dict[str, Any]) -> Any:
    return run_action(client, Store, "adjust_credits", [store], **form)


class TestCreditAdjustment:
    def test_choosing_the_action_shows_the_form_with_a_token(self, admin_client: Client, owner: Persona) -> None:
        response = run_action(admin_client, Store, "adjust_credits", [owner.store])
        html = response.content.decode()
        assert response.status_code == 200
        assert 'name="delta"' in html
        assert 'name="reason"' in html
        assert f'name="token" value="{response.context["form"]["token"].value()}"' in html
        assert books(owner.store) == (100, 1, 1, 1)

    def test_adds_credits_as_a_pack_in_the_ledger_and_the_trail(
        self, admin_client: Client, admin_user: Any, owner: Persona
    ) -> None:
        response = adjust(admin_client, owner.store, shown_adjust(admin_client, owner.store, "25"))
        assert response.status_code == 302
        assert books(owner.store) == (125, 2, 2, 2)
        entry = CreditLedgerEntry.objects.filter(store=owner.store).latest("id")
        assert (entry.kind, entry.delta, entry.balance_after) == (CreditLedgerEntry.Kind.ADJUSTMENT, 25, 125)
        assert (entry.actor, entry.actor_user, entry.reason) == (STAFF_EMAIL, admin_user, "Goodwill: slow generations")
        assert entry.pack is not None
        assert (entry.pack.credits, entry.pack.remaining) == (25, 25)
        audit = AuditEntry.objects.filter(store=owner.store).latest("id")
        assert (audit.action, audit.actor, audit.actor_user) == (
            AuditEntry.Action.CREDITS_ADJUSTED,
            STAFF_EMAIL,
            admin_user,
        )
        assert audit.detail == {"delta": 25, "before": 100, "after": 125, "reason": "Goodwill: slow generations"}
        assert log_messages(owner.store) == ["Adjusted credits by +25: Goodwill: slow generations"]
        assert "balance 125" in " ".join(messages_of(response))

    def test_takes_credits_from_the_packs_that_expire_first(self, admin_client: Client, owner: Persona) -> None:
        # A pack of 500 valid 90 days: it expires before the persona's 100, so it is taken first.
        top_up(admin_client, [owner.store], shown_top_up(admin_client, [owner.store]))
        response = adjust(admin_client, owner.store, shown_adjust(admin_client, owner.store, "-130", "Refunded order"))
        assert response.status_code == 302
        assert fresh(owner.store).credit_balance == 470
        packs = list(
            CreditPack.objects.filter(store=owner.store).order_by("expires_at").values_list("remaining", flat=True)
        )
        assert packs == [370, 100]
        entry = CreditLedgerEntry.objects.filter(store=owner.store).latest("id")
        assert (entry.delta, entry.balance_after, entry.pack) == (-130, 470, None)
        audit = AuditEntry.objects.filter(store=owner.store).latest("id")
        assert audit.detail == {"delta": -130, "before": 600, "after": 470, "reason": "Refunded order"}
        from tryon.selectors import credit_audit

        assert credit_audit()[1] == []  # balance == live packs == ledger − debits

    def test_never_below_zero(self, admin_client: Client, owner: Persona) -> None:
        response = adjust(admin_client, owner.store, shown_adjust(admin_client, owner.store, "-101"))
        assert response.status_code == 200
        errors = " ".join(response.context["form"].errors["delta"])
        assert "The balance is 100: taking 101 credits would take it below zero." in errors
        assert books(owner.store) == (100, 1, 1, 1)
        assert adjust(admin_client, owner.store, shown_adjust(admin_client, owner.store, "-100")).status_code == 302
        assert fresh(owner.store).credit_balance == 0

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("delta", "0", "not 0"),
            ("delta", "ten", "Enter a whole number"),
            ("delta", "10000001", "between"),
            ("reason", "   ", "This field is required"),
        ],
    )
    def test_bad_input_changes_nothing(
        self, admin_client: Client, owner: Persona, field: str, value: str, message: str
    ) -> None:
        form = {**shown_adjust(admin_client, owner.store, "5"), field: value}
        response = adjust(admin_client, owner.store, form)
        assert response.status_code == 200
        assert message in " ".join(response.context["form"].errors[field])
        assert books(owner.store) == (100, 1, 1, 1)

    def test_one_store_at_a_time(self, admin_client: Client, owner: Persona, outsider: Persona) -> None:
        response = run_action(admin_client, Store, "adjust_credits", [owner.store, outsider.store])
        assert response.status_code == 302
        assert "Select one store" in " ".join(messages_of(response))

    def test_the_same_form_twice_adjusts_once(self, admin_client: Client, owner: Persona) -> None:
        form = shown_adjust(admin_client, owner.store, "-40")
        assert adjust(admin_client, owner.store, form).status_code == 302
        second = adjust(admin_client, owner.store, form)
        assert second.status_code == 302
        assert books(owner.store) == (60, 1, 2, 2)
        assert CreditLedgerEntry.objects.filter(store=owner.store, request_token=form["token"]).count() == 1
        assert "This adjustment was already applied" in " ".join(messages_of(second))

    def test_a_form_without_its_token_changes_nothing(self, admin_client: Client, owner: Persona) -> None:
        response = adjust(admin_client, owner.store, {"delta": "5", "reason": "x", "apply": "yes"})
        assert "open Adjust credits again" in response.content.decode()
        assert books(owner.store) == (100, 1, 1, 1)


class TestRecentActions:
    """Issue 13: the admin's "Recent actions" missed suspend, top-up and pause."""

    def test_top_up_is_logged(self, admin_client: Client, owner: Persona) -> None:
        top_up(admin_client, [owner.store], shown_top_up(admin_client, [owner.store]))
        [message] = log_messages(owner.store)
        assert message.startswith("Topped up 500 credits")

    def test_pause_resume_and_reset_of_customers_are_logged(
        self, admin_client: Client, admin_user: Any, owner: Persona
    ) -> None:
        from quotas.models import EndCustomer

        customer = owner.customer
        for action in ("pause_customers", "reactivate_customers", "reset_periods"):
            assert run_action(admin_client, EndCustomer, action, [customer]).status_code == 302
        assert log_messages(customer) == ["Paused.", "Reactivated.", "Started a fresh period."]
        trail = AuditEntry.objects.filter(target=customer.public_id).order_by("id")
        assert [(e.action, e.actor_user, e.detail.get("old"), e.detail.get("new")) for e in trail][:2] == [
            (AuditEntry.Action.CUSTOMER_STATUS_CHANGED, admin_user, "ACTIVE", "PAUSED"),
            (AuditEntry.Action.CUSTOMER_STATUS_CHANGED, admin_user, "PAUSED", "ACTIVE"),
        ]
        assert LogEntry.objects.filter(user=admin_user).count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
class TestAtTheSameInstant:
    """Real threads, each with its own PostgreSQL connection, released together by a barrier."""

    def test_two_suspensions_write_one_audit_entry(self) -> None:
        from tryon.tests.test_concurrency import run_at_once

        owner = make_persona("racer")

        def suspend(index: int) -> bool:
            _, changed = store_suspend(
                store=Store.objects.get(pk=owner.store.pk),
                note=f"note {index}",
                message=f"message {index}",
                actor=SYSTEM,
            )
            return changed

        results = run_at_once(4, suspend)
        assert sorted(results) == [False, False, False, True]
        [entry] = AuditEntry.objects.filter(store=owner.store, action=AuditEntry.Action.STORE_SUSPENDED)
        store = fresh(owner.store)
        # The store holds the winner's note and message, the ones its one entry names.
        assert (store.suspended_note, store.suspended_message) == (entry.detail["note"], entry.detail["message"])

    def test_two_reactivations_write_one_audit_entry(self) -> None:
        from tryon.tests.test_concurrency import run_at_once

        owner = make_persona("racer")
        store_suspend(store=owner.store, note="fraud", actor=SYSTEM)

        def reactivate(index: int) -> bool:
            return store_reactivate(store=Store.objects.get(pk=owner.store.pk), reason=f"r{index}", actor=SYSTEM)[1]

        assert sorted(run_at_once(3, reactivate)) == [False, False, True]
        assert AuditEntry.objects.filter(store=owner.store, action=AuditEntry.Action.STORE_REACTIVATED).count() == 1

    @pytest.mark.parametrize("delta", ["30", "-30"])
    def test_one_adjustment_form_posted_at_once_applies_once(self, admin_user: Any, delta: str) -> None:
        from tryon.tests.test_concurrency import run_at_once

        owner = make_persona("racer")
        clients = [Client() for _ in range(3)]
        for client in clients:
            client.force_login(admin_user)
        form = shown_adjust(clients[0], owner.store, delta)

        def submit(index: int) -> tuple[int, list[str]]:
            response = adjust(clients[index], owner.store, form)
            return response.status_code, messages_of(response)

        results = run_at_once(3, submit)
        assert [status for status, _ in results] == [302] * 3
        said = sorted("adjusted" if m[0].startswith("Adjusted") else "already" for _, m in results)
        assert said == ["adjusted", "already", "already"]
        assert fresh(owner.store).credit_balance == 100 + int(delta)
        assert CreditLedgerEntry.objects.filter(store=owner.store, request_token=form["token"]).count() == 1
        assert AuditEntry.objects.filter(store=owner.store, action=AuditEntry.Action.CREDITS_ADJUSTED).count() == 1

    def test_two_takings_that_together_overdraw_apply_one(self) -> None:
        from tryon.tests.test_concurrency import run_at_once

        owner = make_persona("racer")

        def take(index: int) -> str:
            try:
                credit_adjust(store=Store.objects.get(pk=owner.store.pk), delta=-60, reason=f"r{index}", actor=SYSTEM)
            except ApiError as error:
                return error.detail
            return "taken"

        results = sorted(run_at_once(2, take))
        assert results[1] == "taken"
        assert "would take it below zero" in results[0]
        assert fresh(owner.store).credit_balance == 40
        assert sum(CreditPack.objects.filter(store=owner.store).values_list("remaining", flat=True)) == 40


def test_prices_read_as_the_portal_writes_them(admin_client: Client, admin_user: Any, owner: Persona) -> None:
    """Issue 13: the admin showed "0.0800" beside "0", with no currency."""
    top_up(admin_client, [owner.store], shown_top_up(admin_client, [owner.store]))
    packs = admin_client.get(reverse("admin:stores_creditpack_changelist")).content.decode()
    assert "$0.04" in packs
    assert "0.0400" not in packs
    trail = admin_client.get(reverse("admin:stores_auditentry_changelist")).content.decode()
    assert "+500 credits at $0.04 each" in trail
    store_page = admin_client.get(reverse("admin:stores_store_change", args=[owner.store.pk])).content.decode()
    assert "0.0400" not in store_page
