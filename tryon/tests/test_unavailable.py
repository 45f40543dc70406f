"""With the database unreachable, the API answers 503 `unavailable` (retryable), never a 500."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
answers = []
for method, path, body in [
    ("post", "/api/tryon/track", {"api_key": "gvk_live_" + "a" * 32}),
    ("post", "/api/tryon/track", {"api_key": "gvk_live_" + "a" * 32, "end_customer_token": "x.y.z"}),
    ("get", "/.well-known/jwks.json", None),
]:
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
    r = getattr(client, method)(path, headers={"x-internal-secret": "s"}, **kwargs)
    answers.append({"status": r.status_code, "body": r.json(), "request_id": r.get("X-Request-Id"),
                    "retry_after": r.get("Retry-After")})
print(json.dumps(answers))
"""


@pytest.mark.parametrize(
    "database_url",
    ["postgres://postgres@127.0.0.1:1/genvoris", "sqlite:////proc/genvoris/db.sqlite3"],
    ids=["postgres-down", "sqlite-unopenable"],
)
def test_database_down_is_503_not_500(database_url: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "genvoris.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "probe",
        "DEBUG": "false",
        "TRYON_INTERNAL_SECRET": "s",
        "ALLOWED_HOSTS": "testserver",
    }
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    for answer in answers:
        assert answer["status"] == 503
        assert answer["body"]["error"] == "unavailable"
        assert answer["body"]["message"]
        assert answer["request_id"]
        assert answer["retry_after"] == "1"
    assert "Traceback" not in done.stdout
