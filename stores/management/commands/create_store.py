from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from genvoris.commands import JsonCommand
from stores.accounts import pending, send_set_password
from stores.models import Store
from stores.services import store_create


class Command(JsonCommand):
    help = (
        "Create a store and its owner user (created if the email is new). Without --password, a new "
        "owner is emailed a one-time link to choose one (also printed here)."
    )

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--email", required=True, help="The owner's email; also their login.")
        parser.add_argument("--password", help="Set the owner's portal password (no email is sent).")
        parser.add_argument(
            "--allow-duplicate-name",
            action="store_true",
            help="Create the store even if a store of the same name exists.",
        )

    def run(self, **options: Any) -> dict[str, Any]:
        name = options["name"].strip()
        if not options["allow_duplicate_name"]:
            existing = Store.objects.filter(name__iexact=name).order_by("pk").first()
            if existing is not None:
                raise CommandError(
                    f"A store named {existing.name!r} already exists ({existing.public_id}); nothing created. "
                    "Pass --allow-duplicate-name to create another one."
                )
        store = store_create(name=name, owner_email=options["email"], password=options["password"], invite=True)
        owner = store.memberships.select_related("user").get().user
        link = send_set_password(owner, store, inviter=None, print_to_console=False) if pending(owner) else None
        return {"id": store.public_id, "name": store.name, "owner_email": owner.email, "set_password_link": link}

    def summary(self, result: dict[str, Any]) -> str:
        text = f"Created store {result['id']} ({result['name']}) owned by {result['owner_email']}."
        if result["set_password_link"]:
            text += (
                f"\nEmailed {result['owner_email']} a link to choose a password (it works once):"
                f"\n  {result['set_password_link']}"
            )
        return text
