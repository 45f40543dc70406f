"""Every periodic job behind one cron-able command (SPEC §20)."""

from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from genvoris.commands import JsonCommand
from quotas.sessions import sessions_prune
from stores.services import credit_packs_expire, key_refusals_prune
from tryon.selectors import credit_audit
from tryon.services import idempotency_records_prune, usage_rollup


def _expire() -> dict[str, Any]:
    packs, credits = credit_packs_expire()
    return {"expired_packs": packs, "credits_expired": credits}


def _rollup() -> dict[str, Any]:
    result = usage_rollup(now=timezone.now())
    return {"stores": result.stores, "days": result.days, "skipped": result.skipped}


def _prune() -> dict[str, Any]:
    now = timezone.now()
    return {
        "idempotency_records": idempotency_records_prune(now=now),
        "sessions": sessions_prune(now=now),
        "key_refusals": key_refusals_prune(now=now),
    }


def _audit() -> dict[str, Any]:
    checked, drift = credit_audit()
    return {"stores_checked": checked, "drift": [d.as_dict() for d in drift]}


# In this order: packs expire before the audit compares balances with them, and rollups read the
# try-ons the expiry cannot change.
JOBS: dict[str, Callable[[], dict[str, Any]]] = {
    "expire_credit_packs": _expire,
    "rollup_usage": _rollup,
    "prune_expired": _prune,
    "audit_credits": _audit,
}


class Command(JsonCommand):
    help = (
        "Run the periodic jobs: expire credit packs, roll up usage, prune idempotency records, sessions "
        "and key refusals past their life, and audit every store's credits. Run it from cron every "
        "10 minutes. Each job is safe beside traffic and beside another run of itself. Exits 1 when the "
        "audit finds drift or a job fails (the others still run)."
    )

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--only",
            action="append",
            choices=list(JOBS),
            help="Run only this job (repeatable). By default all of them run, in order.",
        )

    def run(self, **options: Any) -> dict[str, Any]:
        results: dict[str, Any] = {}
        chosen = options["only"] or list(JOBS)
        for name in [job for job in JOBS if job in chosen]:  # always in JOBS order
            started = timezone.now()
            try:
                outcome = JOBS[name]()
            except Exception as error:  # one failing job must not stop the others
                outcome = {"error": f"{type(error).__name__}: {error}"}
            outcome["seconds"] = round((timezone.now() - started).total_seconds(), 3)
            results[name] = outcome
        return results

    def summary(self, result: dict[str, Any]) -> str:
        lines = []
        for name, outcome in result.items():
            if "error" in outcome:
                lines.append(f"{name}: FAILED ({outcome['error']})")
            elif name == "audit_credits":
                lines.append(f"{name}: {outcome['stores_checked']} store(s) checked, {len(outcome['drift'])} drift(s)")
                lines += [
                    f"  {d['store']} {d['check']}: expected {d['expected']}, found {d['actual']}"
                    for d in outcome["drift"]
                ]
            else:
                figures = ", ".join(f"{k}={v}" for k, v in outcome.items() if k != "seconds")
                lines.append(f"{name}: {figures}")
        return "\n".join(lines)

    def after_output(self, result: dict[str, Any]) -> None:
        failed = [name for name, outcome in result.items() if "error" in outcome]
        drift = len(result.get("audit_credits", {}).get("drift", []))
        if failed:
            raise CommandError(f"Failed: {', '.join(failed)}.")
        if drift:
            raise CommandError(f"{drift} drift(s) found; see the output above.")
