from argparse import ArgumentParser, ArgumentTypeError
from decimal import Decimal, InvalidOperation
from typing import Any

from genvoris.commands import JsonCommand
from stores.management.commands._store import store_arg
from stores.models import PACK_VALIDITY_DAYS, CreditPack
from stores.services import COMMAND, credit_topup


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        # ArgumentTypeError, not CommandError: argparse turns it into a usage error (exit 1 on the
        # command line, CommandError from call_command) instead of letting a traceback escape.
        raise ArgumentTypeError(f"must be a decimal number, not {text!r}") from None


class Command(JsonCommand):
    help = "Add a credit pack to a store (FIFO by expiry) and record it in the ledger."

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("store", help="Store id (st_…).")
        parser.add_argument("credits", type=int)
        parser.add_argument("--price-per-credit", default="0", type=_decimal)
        parser.add_argument("--valid-days", type=int, default=PACK_VALIDITY_DAYS)
        parser.add_argument("--note", default="")

    def run(self, **options: Any) -> dict[str, Any]:
        store = store_arg(options["store"])
        pack, balance = credit_topup(
            store=store,
            credits=options["credits"],
            actor=COMMAND,
            price_per_credit=options["price_per_credit"],
            valid_days=options["valid_days"],
            source=CreditPack.Source.COMMAND,
            note=options["note"],
        )
        return {"store": store.public_id, "pack": pack.public_id, "credits": pack.credits, "balance": balance}

    def summary(self, result: dict[str, Any]) -> str:
        return f"Added {result['credits']} credits to {result['store']} (pack {result['pack']}); balance {result['balance']}."
