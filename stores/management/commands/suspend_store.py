from argparse import ArgumentParser
from typing import Any

from genvoris.commands import JsonCommand
from stores.management.commands._store import store_arg
from stores.services import COMMAND, store_suspend


class Command(JsonCommand):
    help = (
        "Suspend a store: its try-ons and API calls are refused with 403 account_inactive. "
        "Suspending a suspended store changes nothing."
    )

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("store", help="Store id (st_…).")
        # --reason was the only text before issue 13, and support wrote it for colleagues: it
        # stays as another name of the internal note, never shown to the merchant.
        parser.add_argument(
            "--note", "--reason", dest="note", required=True, help="Why, for support colleagues only (staff only)."
        )
        parser.add_argument(
            "--message",
            default="",
            help="What the merchant reads in the portal and in the API's error detail "
            "(default: to contact Genvoris support).",
        )

    def run(self, **options: Any) -> dict[str, Any]:
        store, changed = store_suspend(
            store=store_arg(options["store"]), note=options["note"], message=options["message"], actor=COMMAND
        )
        return {"store": store.public_id, "status": store.status, "changed": changed}

    def summary(self, result: dict[str, Any]) -> str:
        if result["changed"]:
            return f"Suspended {result['store']}."
        return f"{result['store']} is already suspended; nothing changed."
