from typing import Any

from genvoris.commands import JsonCommand
from stores.services import credit_packs_expire


class Command(JsonCommand):
    help = "Write off the credits left in packs past their expiry (run it daily from cron)."

    def run(self, **options: Any) -> dict[str, Any]:
        packs, credits = credit_packs_expire()
        return {"expired_packs": packs, "credits_expired": credits}

    def summary(self, result: dict[str, Any]) -> str:
        return f"Expired {result['expired_packs']} pack(s), {result['credits_expired']} credit(s) written off."
