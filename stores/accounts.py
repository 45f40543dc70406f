"""Merchant accounts (SPEC §19): one-time set-password links, and the store's team. Every team
change is audited in the transaction that makes it."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from stores.models import AuditEntry, Membership, Store
from stores.services import Actor, audit_record

User = get_user_model()


CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"


class TeamError(ValueError):
    """A team change refused, with the sentence the portal shows."""


def normalized_email(raw: str) -> str:
    email = User.objects.normalize_email(raw.strip()).lower()
    if "@" not in email or len(email) > 150:
        raise TeamError("Enter a valid email address.")
    return email


def pending(user: Any) -> bool:
    """Invited and not yet signed in: no password of their own, so the account cannot be used."""
    return not user.is_active and not user.has_usable_password()


def set_password_link(user: Any, base_url: str | None = None) -> str:
    """A link that lets the user choose a password once (Django's token: it stops working as
    soon as the password or the last sign-in changes, and after PASSWORD_RESET_TIMEOUT)."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{(base_url or settings.PORTAL_BASE_URL).rstrip('/')}{path}"


def user_for_invite(email: str) -> Any:
    """The account of the email, made inactive with no usable password when it is new."""
    user = User.objects.filter(username=email).first()
    if user is None:
        user = User.objects.create_user(username=email, email=email, password=None, is_active=False)
    return user


def send_set_password(
    user: Any, store: Store, *, inviter: str | None, base_url: str | None = None, print_to_console: bool = True
) -> str:
    """Email the user their set-password link for the store's portal; returns the link. With the
    console backend and `print_to_console` off, nothing is sent (the caller prints the link)."""
    link = set_password_link(user, base_url)
    if settings.EMAIL_BACKEND == CONSOLE_BACKEND and not print_to_console:
        return link  # the caller shows the link itself: a command's stdout stays its output
    who = f"{inviter} invited you" if inviter else "You have an account"
    send_mail(
        subject=f"Your Genvoris portal for {store.name}",
        message=(
            f"{who} to the Genvoris portal of {store.name}.\n\n"
            f"Choose your password here (the link works once):\n{link}\n\n"
            "If you did not expect this email, ignore it."
        ),
        from_email=None,
        recipient_list=[user.email],
    )
    return link


def send_added(user: Any, store: Store, *, inviter: str, base_url: str | None = None) -> None:
    portal = f"{(base_url or settings.PORTAL_BASE_URL).rstrip('/')}{reverse('portal')}"
    send_mail(
        subject=f"You were added to {store.name} on Genvoris",
        message=f"{inviter} added you to the Genvoris portal of {store.name}. Sign in as usual:\n{portal}\n",
        from_email=None,
        recipient_list=[user.email],
    )


def _roles() -> list[str]:
    return [choice.value for choice in Membership.Role]


def _checked_role(role: str) -> str:
    if role not in _roles():
        raise TeamError(f"The role must be one of {', '.join(_roles())}.")
    return role


def member_invite(*, store: Store, email: str, role: str, actor: Actor, base_url: str | None = None) -> Membership:
    """Add a teammate by email with a role. A new person gets an inactive account and a
    set-password link; someone with an account is added and told so; an invite still pending is
    sent again with a fresh link (the old one keeps working until either is used)."""
    email, role = normalized_email(email), _checked_role(role)
    with transaction.atomic():
        user = user_for_invite(email)
        membership, created = Membership.objects.get_or_create(user=user, store=store, defaults={"role": role})
        if not created and not pending(user):
            raise TeamError(f"{email} is already a member of this store.")
        if created:
            audit_record(
                store_id=store.pk,
                action=AuditEntry.Action.MEMBER_INVITED,
                target=email,
                actor=actor,
                detail={"before": None, "after": {"email": email, "role": role}},
            )
        inviter = actor.label
        transaction.on_commit(
            lambda: (
                send_set_password(user, store, inviter=inviter, base_url=base_url)
                if pending(user)
                else send_added(user, store, inviter=inviter, base_url=base_url)
            )
        )
    return membership


def _owners_left(store: Store, *, without: Membership) -> int:
    return store.memberships.filter(role=Membership.Role.OWNER).exclude(pk=without.pk).count()


def member_role_change(*, membership: Membership, role: str, actor: Actor) -> Membership:
    role = _checked_role(role)
    with transaction.atomic():
        # The store's memberships locked in one order: two owners demoting each other at once
        # cannot both succeed and leave the store without an owner.
        list(Membership.objects.select_for_update().filter(store_id=membership.store_id).order_by("pk"))
        membership.refresh_from_db()
        before = membership.role
        if before == role:
            return membership
        if before == Membership.Role.OWNER and not _owners_left(membership.store, without=membership):
            raise TeamError("A store keeps at least one owner: make someone else owner first.")
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            store_id=membership.store_id,
            action=AuditEntry.Action.MEMBER_ROLE_CHANGED,
            target=membership.user.email,
            actor=actor,
            detail={"before": {"role": before}, "after": {"role": role}},
        )
    return membership


def member_remove(*, membership: Membership, actor: Actor) -> None:
    with transaction.atomic():
        list(Membership.objects.select_for_update().filter(store_id=membership.store_id).order_by("pk"))
        membership.refresh_from_db()
        if membership.role == Membership.Role.OWNER and not _owners_left(membership.store, without=membership):
            raise TeamError("A store keeps at least one owner: make someone else owner first.")
        email, role = membership.user.email, membership.role
        membership.delete()
        audit_record(
            store_id=membership.store_id,
            action=AuditEntry.Action.MEMBER_REMOVED,
            target=email,
            actor=actor,
            detail={"before": {"email": email, "role": role}, "after": None},
        )
