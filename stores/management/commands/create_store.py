from argparse import ArgumentParser
from typing import Any

from genvoris.commands import JsonCommand
from stores.services import store_create


class Command(JsonCommand):
    help = "Create a store and its owner user (created if the email is new)."

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--email", required=True, help="The owner's email; also their login.")
        parser.add_argument("--password", help="Set the owner's portal password.")

    def run(self, **options: Any) -> dict[str, Any]:
        store = store_create(name=options["name"], owner_email=options["email"], password=options["password"])
        return {"id": store.public_id, "name": store.name, "owner_email": store.memberships.get().user.email}

    def summary(self, result: dict[str, Any]) -> str:
        return f"Created store {result['id']} ({result['name']}) owned by {result['owner_email']}."
