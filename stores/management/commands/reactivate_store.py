from argparse import ArgumentParser
from typing import Any

from genvoris.commands import JsonCommand
from stores.management.commands._store import store_arg
from stores.services import COMMAND, store_reactivate


class Command(JsonCommand):
    help = "Reactivate a suspended store. Reactivating an active store changes nothing."

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("store", help="Store id (st_…).")
        parser.add_argument("--reason", required=True, help="Why it is reactivated; kept in the audit trail.")

    def run(self, **options: Any) -> dict[str, Any]:
        store, changed = store_reactivate(store=store_arg(options["store"]), reason=options["reason"], actor=COMMAND)
        return {"store": store.public_id, "status": store.status, "changed": changed}

    def summary(self, result: dict[str, Any]) -> str:
        if result["changed"]:
            return f"Reactivated {result['store']}."
        return f"{result['store']} is already active; nothing changed."
