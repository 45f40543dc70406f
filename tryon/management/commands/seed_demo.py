from argparse import ArgumentParser
from typing import Any

from genvoris.commands import JsonCommand
from tryon.demo import DEMO_EMAIL, DEMO_PASSWORD, demo_seed, track_curl


class Command(JsonCommand):
    help = "Create (or find) the demo store, its keys, plans, shopper and credits. Safe to run again."

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Used in the printed curl.")

    def run(self, **options: Any) -> dict[str, Any]:
        demo = demo_seed()
        return {
            "store": demo.store.public_id,
            "owner_email": DEMO_EMAIL,
            "owner_password": DEMO_PASSWORD,
            "secret_key": demo.secret_key,
            "publishable_key": demo.publishable_key,
            "plan": demo.plan.public_id,
            "customer": demo.customer.public_id,
            "customer_external_id": demo.customer.external_id,
            "balance": demo.store.credit_balance,
            "curl": track_curl(options["base_url"], demo.secret_key),
        }

    def summary(self, result: dict[str, Any]) -> str:
        return "\n".join(
            [
                f"Demo store {result['store']} — balance {result['balance']} credits",
                f"  portal login:     {result['owner_email']} / {result['owner_password']}",
                f"  secret key:       {result['secret_key']}",
                f"  publishable key:  {result['publishable_key']}",
                f"  demo shopper:     {result['customer']} ({result['customer_external_id']}, plan {result['plan']})",
                "",
                "Track one try-on (debits one credit):",
                f"  {result['curl']}",
            ]
        )
