from typing import Any

from genvoris.commands import JsonCommand
from quotas.sessions import signing_key_rotate


class Command(JsonCommand):
    help = "Publish a new session signing key; the old one verifies until its tokens have expired."

    def run(self, **options: Any) -> dict[str, Any]:
        return {"kid": signing_key_rotate().kid}

    def summary(self, result: dict[str, Any]) -> str:
        return f"New active signing key {result['kid']}."
