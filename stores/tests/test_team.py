"""The Team page, invites and password reset (SPEC §19): end to end through the mail outbox,
each change in the audit trail."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from conftest import Persona, make_member
from stores.models import AuditEntry, Membership

pytestmark = pytest.mark.django_db
Role = Membership.Role
NEW_PASSWORD = "a fresh and long passphrase 42"


def link_in(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://[^/\s]+(/accounts/set-password/\S+/)", message.body)
    assert found, message.body
    return found.group(1)


def team_url(owner: Persona, name: str = "portal-team", **kwargs: object) -> str:
    return reverse(name, kwargs={"store_id": owner.store.public_id, **kwargs})


def use_link(client: Client, link: str) -> object:
    """Open the link (Django moves the token into the session and redirects) and set a password."""
    form = client.get(link, follow=True)
    return client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})


@pytest.fixture
def signed_in(client: Client, owner: Persona) -> Client:
    client.force_login(owner.user)
    return client


class TestInvite:
    def test_invite_signs_in_once(
        self, signed_in: Client, owner: Persona, django_capture_on_commit_callbacks: object
    ) -> None:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            response = signed_in.post(
                team_url(owner, "portal-team-invite"), {"email": "Dev@Example.com", "role": "developer"}
            )
        assert response.status_code == 302
        user = get_user_model().objects.get(username="dev@example.com")
        assert not user.is_active
        assert not user.has_usable_password()
        membership = Membership.objects.get(user=user, store=owner.store)
        assert membership.role == Role.DEVELOPER
        entry = AuditEntry.objects.get(action=AuditEntry.Action.MEMBER_INVITED)
        assert (entry.actor, entry.actor_user, entry.target) == (owner.user.email, owner.user, "dev@example.com")
        assert entry.detail == {"before": None, "after": {"email": "dev@example.com", "role": "developer"}}

        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["dev@example.com"]
        link = link_in(mail.outbox[0])

        newcomer = Client()
        done = use_link(newcomer, link)
        assert done.status_code == 302  # type: ignore[attr-defined]
        user.refresh_from_db()
        assert user.is_active
        assert user.check_password(NEW_PASSWORD)
        # signed in: the developer reaches the store, and can use keys
        assert newcomer.get(reverse("portal-keys", args=[owner.store.public_id])).status_code == 200

        again = Client().get(link, follow=True)
        assert "This link no longer works" in again.content.decode()
        signed = Client().post("/accounts/login/", {"username": "dev@example.com", "password": NEW_PASSWORD})
        assert signed["Location"] == "/portal/"

    def test_existing_account_is_added_and_told(
        self, signed_in: Client, owner: Persona, outsider: Persona, django_capture_on_commit_callbacks: object
    ) -> None:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            signed_in.post(team_url(owner, "portal-team-invite"), {"email": outsider.user.email, "role": "viewer"})
        assert Membership.objects.get(user=outsider.user, store=owner.store).role == Role.VIEWER
        assert "set-password" not in mail.outbox[0].body
        assert "added you" in mail.outbox[0].body

    def test_a_member_cannot_be_invited_twice(self, signed_in: Client, owner: Persona) -> None:
        make_member(owner.store, "dev", Role.DEVELOPER)
        response = signed_in.post(team_url(owner, "portal-team-invite"), {"email": "dev@example.com", "role": "viewer"})
        assert response.status_code == 400
        assert "already a member" in response.content.decode()
        assert not AuditEntry.objects.filter(action=AuditEntry.Action.MEMBER_INVITED).exists()

    def test_invalid_role(self, signed_in: Client, owner: Persona) -> None:
        response = signed_in.post(team_url(owner, "portal-team-invite"), {"email": "x@example.com", "role": "admin"})
        assert response.status_code == 400
        assert not get_user_model().objects.filter(username="x@example.com").exists()


class TestRoles:
    def test_change_role_audited(self, signed_in: Client, owner: Persona) -> None:
        user = make_member(owner.store, "dev", Role.DEVELOPER)
        membership = Membership.objects.get(user=user)
        signed_in.post(team_url(owner, "portal-team-role", membership_id=membership.pk), {"role": "viewer"})
        membership.refresh_from_db()
        assert membership.role == Role.VIEWER
        entry = AuditEntry.objects.get(action=AuditEntry.Action.MEMBER_ROLE_CHANGED)
        assert (entry.actor, entry.target) == (owner.user.email, "dev@example.com")
        assert entry.detail == {"before": {"role": "developer"}, "after": {"role": "viewer"}}

    def test_the_last_owner_stays(self, signed_in: Client, owner: Persona) -> None:
        mine = Membership.objects.get(user=owner.user, store=owner.store)
        page = signed_in.post(
            team_url(owner, "portal-team-role", membership_id=mine.pk), {"role": "viewer"}, follow=True
        )
        assert "keeps at least one owner" in page.content.decode()
        page = signed_in.post(team_url(owner, "portal-team-remove", membership_id=mine.pk), follow=True)
        assert "keeps at least one owner" in page.content.decode()
        mine.refresh_from_db()
        assert mine.role == Role.OWNER
        assert not AuditEntry.objects.filter(action__startswith="member.").exists()

    def test_remove_audited_and_access_ends(self, signed_in: Client, owner: Persona) -> None:
        user = make_member(owner.store, "dev", Role.DEVELOPER)
        membership = Membership.objects.get(user=user)
        signed_in.post(team_url(owner, "portal-team-remove", membership_id=membership.pk))
        assert not Membership.objects.filter(pk=membership.pk).exists()
        entry = AuditEntry.objects.get(action=AuditEntry.Action.MEMBER_REMOVED)
        assert entry.detail == {"before": {"email": "dev@example.com", "role": "developer"}, "after": None}
        gone = Client()
        gone.force_login(user)
        assert gone.get(reverse("portal-overview", args=[owner.store.public_id])).status_code == 404

    def test_another_stores_member_is_404(self, signed_in: Client, owner: Persona, outsider: Persona) -> None:
        theirs = Membership.objects.get(user=outsider.user)
        response = signed_in.post(team_url(owner, "portal-team-remove", membership_id=theirs.pk))
        assert response.status_code == 404
        assert Membership.objects.filter(pk=theirs.pk).exists()

    def test_team_is_in_the_owners_navigation_only(self, signed_in: Client, owner: Persona) -> None:
        assert (
            team_url(owner) in signed_in.get(reverse("portal-overview", args=[owner.store.public_id])).content.decode()
        )
        dev = Client()
        dev.force_login(make_member(owner.store, "dev", Role.DEVELOPER))
        assert team_url(owner) not in dev.get(reverse("portal-overview", args=[owner.store.public_id])).content.decode()


class TestPasswordReset:
    def test_sign_in_page_links_to_it(self, client: Client) -> None:
        assert reverse("password_reset") in client.get("/accounts/login/").content.decode()

    def test_reset_end_to_end(self, client: Client, owner: Persona) -> None:
        response = client.post(reverse("password_reset"), {"email": owner.user.email})
        assert response["Location"] == reverse("password_reset_done")
        assert len(mail.outbox) == 1
        link = link_in(mail.outbox[0])
        assert use_link(client, link).status_code == 302  # type: ignore[attr-defined]
        owner.user.refresh_from_db()
        assert owner.user.check_password(NEW_PASSWORD)
        assert "This link no longer works" in Client().get(link, follow=True).content.decode()

    def test_unknown_email_answers_the_same(self, client: Client) -> None:
        response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
        assert response["Location"] == reverse("password_reset_done")
        assert mail.outbox == []

    def test_rate_limited_per_address(self, client: Client, owner: Persona, settings: object) -> None:
        settings.PASSWORD_RESETS_PER_HOUR = 2  # type: ignore[attr-defined]
        for _ in range(4):
            response = client.post(reverse("password_reset"), {"email": owner.user.email})
            assert response["Location"] == reverse("password_reset_done")
        assert len(mail.outbox) == 2
