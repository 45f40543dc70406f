from typing import Any

from django.core.management.base import CommandError

from genvoris.commands import JsonCommand
from tryon.selectors import credit_audit


class Command(JsonCommand):
    help = "Check every store's balance against its packs, ledger and debited try-ons; exit 1 on drift."

    def run(self, **options: Any) -> dict[str, Any]:
        checked, drift = credit_audit()
        return {"stores_checked": checked, "drift": [d.as_dict() for d in drift]}

    def summary(self, result: dict[str, Any]) -> str:
        lines = [f"Checked {result['stores_checked']} store(s): {len(result['drift'])} drift(s)."]
        lines += [
            f"  {d['store']} {d['check']}: expected {d['expected']}, found {d['actual']}" for d in result["drift"]
        ]
        return "\n".join(lines)

    def after_output(self, result: dict[str, Any]) -> None:
        if result["drift"]:
            raise CommandError(f"{len(result['drift'])} drift(s) found; see the output above.")
