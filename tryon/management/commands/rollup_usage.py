from argparse import ArgumentParser
from typing import Any

from django.utils import timezone

from genvoris.commands import JsonCommand
from stores.management.commands._store import store_arg
from tryon.services import usage_rollup


class Command(JsonCommand):
    help = (
        "Roll finished days of try-ons up into the daily usage tables the portal reads. Safe to run "
        "at any time and as often as you like (every 10 minutes from cron, say); the portal stays "
        "right without it, only slower on large stores."
    )

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--store", help="Only this store (st_…).")
        parser.add_argument("--rebuild", action="store_true", help="Recompute every day from the first event.")

    def run(self, **options: Any) -> dict[str, Any]:
        store = store_arg(options["store"]) if options["store"] else None
        result = usage_rollup(now=timezone.now(), store=store, rebuild=options["rebuild"])
        return {"stores": result.stores, "days": result.days, "skipped": result.skipped}

    def summary(self, result: dict[str, Any]) -> str:
        skipped = f" ({result['skipped']} skipped: another run had them)" if result["skipped"] else ""
        return f"Rolled up {result['days']} day(s) of {result['stores']} store(s){skipped}."
