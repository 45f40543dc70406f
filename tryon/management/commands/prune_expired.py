from typing import Any

from django.utils import timezone

from genvoris.commands import JsonCommand
from quotas.sessions import sessions_prune
from stores.services import key_refusals_prune
from tryon.services import idempotency_records_prune


class Command(JsonCommand):
    help = (
        "Delete what has outlived its use: Idempotency-Key records older than 24 hours, "
        "shopper sessions (and their revocations) whose tokens have expired, and key refusal counts older than "
        "a week. Run it from cron (hourly, say); "
        "it is safe to run at any time and concurrently with traffic."
    )

    def run(self, **options: Any) -> dict[str, Any]:
        now = timezone.now()
        return {
            "idempotency_records": idempotency_records_prune(now=now),
            "sessions": sessions_prune(now=now),
            "key_refusals": key_refusals_prune(now=now),
        }

    def summary(self, result: dict[str, Any]) -> str:
        return (
            f"Pruned {result['idempotency_records']} idempotency record(s), "
            f"{result['sessions']} expired shopper session(s) and "
            f"{result['key_refusals']} old key refusal count(s)."
        )
