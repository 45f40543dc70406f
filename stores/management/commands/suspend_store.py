from argparse import ArgumentParser
from typing import Any

from genvoris.commands import JsonCommand
from stores.management.commands._store import store_arg
from stores.services import COMMAND, store_suspend


class Command(JsonCommand):
    help = "Suspend a store: its try-ons and API calls are refused with 403 account_inactive."

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("store", help="Store id (st_…).")
        parser.add_argument("--reason", default="")

    def run(self, **options: Any) -> dict[str, Any]:
        store = store_suspend(store=store_arg(options["store"]), reason=options["reason"], actor=COMMAND)
        return {"store": store.public_id, "status": store.status}
