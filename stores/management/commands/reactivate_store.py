from argparse import ArgumentParser
from typing import Any

from genvoris.commands import JsonCommand
from stores.management.commands._store import store_arg
from stores.services import COMMAND, store_reactivate


class Command(JsonCommand):
    help = "Reactivate a suspended store."

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("store", help="Store id (st_…).")

    def run(self, **options: Any) -> dict[str, Any]:
        store = store_reactivate(store=store_arg(options["store"]), actor=COMMAND)
        return {"store": store.public_id, "status": store.status}
