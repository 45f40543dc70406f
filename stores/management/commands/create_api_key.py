from argparse import ArgumentParser
from typing import Any

from genvoris.commands import JsonCommand
from stores.management.commands._store import store_arg
from stores.models import ApiKey
from stores.services import COMMAND, api_key_create


class Command(JsonCommand):
    help = "Create an API key for a store. The key is printed once and never stored."

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("store", help="Store id (st_…).")
        parser.add_argument("--kind", choices=ApiKey.Kind.values, default=ApiKey.Kind.SECRET)
        parser.add_argument("--domains", default="", help="Allowlist, comma-separated: shop.com,*.shop.com")
        parser.add_argument("--label", default="")

    def run(self, **options: Any) -> dict[str, Any]:
        key, plaintext = api_key_create(
            store=store_arg(options["store"]),
            kind=options["kind"],
            label=options["label"],
            allowed_domains=options["domains"].split(","),
            actor=COMMAND,
        )
        return {"id": key.public_id, "key": plaintext, "prefix": key.prefix, "kind": key.kind}

    def summary(self, result: dict[str, Any]) -> str:
        return f"Created {result['kind']} key {result['id']}:\n  {result['key']}\nStore it now: it is not shown again."
