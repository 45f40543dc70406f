"""Structured logs (SPEC §20, genvoris/logs.py): a full run's every line scanned for its secrets.

The scenario runs the track endpoint through every refusal, the REST API, portal sign-in, API key
create and revoke, a password reset and a webhook delivery, with the root logger at DEBUG and the
configured JSON formatter and context filter (settings.LOGGING, with a capturing handler added).
Then every formatted line must be free of every plaintext the run used, and the request lines must
say what they promise.
"""

import json
import logging
import logging.config
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from copy import deepcopy
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from conftest import INTERNAL_SECRET, V1, Persona, Track, make_persona
from genvoris import health, logs, metrics
from quotas import sessions
from quotas.models import EndCustomer
from quotas.sessions import session_mint
from quotas.tests.test_sessions import at
from stores.models import ApiKey
from stores.tests.factories import ApiKeyFactory
from stores.tests.receiver import receiving

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # the factories' password
WRONG_PASSWORD = "not the right one, surely"
NEW_PASSWORD = "a fresh and long passphrase 42"
WEBHOOK_SECRET = "whsec_" + "s3cr3t" * 6
ESC = "\x1b[2J"  # clears a terminal: must never reach one as it is


class Captured(logging.Handler):
    lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        Captured.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every line the run logs, formatted by the configured JSON formatter, root at DEBUG."""
    config = deepcopy(settings.LOGGING)
    config["handlers"]["capture"] = {"()": Captured, "formatter": "json", "filters": ["context"]}
    config["root"] = {**config["root"], "handlers": ["capture"], "level": "DEBUG"}
    Captured.lines = []
    logging.config.dictConfig(config)
    try:
        yield Captured.lines
    finally:
        logging.config.dictConfig(settings.LOGGING)


class Run:
    """The scenario's calls, each answer's request id kept so its log line can be found."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.secrets: set[str] = {INTERNAL_SECRET, *settings.TRYON_INTERNAL_SECRET, PASSWORD, WRONG_PASSWORD}
        self.answers: dict[str, Any] = {}

    def keep(self, response: Any) -> Any:
        self.answers[response["X-Request-Id"]] = response
        return response

    def track(self, body: dict[str, Any] | str, **meta: str) -> Any:
        data = body if isinstance(body, str) else json.dumps(body)
        if "HTTP_AUTHORIZATION" not in meta:
            meta.setdefault("HTTP_X_INTERNAL_SECRET", INTERNAL_SECRET)
        return self.keep(self.client.post("/api/tryon/track", data=data, content_type="application/json", **meta))

    def token(self, persona: Persona, **options: Any) -> str:
        token = session_mint(customer=persona.customer, **options).token
        self.secrets.add(token)
        return token


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def request_lines(lines: list[str]) -> dict[str, dict[str, Any]]:
    return {entry["request_id"]: entry for entry in parsed(lines) if entry["logger"] == "genvoris.request"}


def fenced_prefix(owner: Persona) -> str:
    return ApiKey.objects.get(store=owner.store, allowed_domains=["shop.example"]).prefix


def scenario(run: Run, owner: Persona, track: Track) -> None:
    secret, publishable = owner.secret, owner.publishable.plaintext  # type: ignore[attr-defined]
    run.secrets |= {secret, publishable}

    # --- the track endpoint: success, then every refusal ---
    assert run.track({"api_key": secret, "end_customer_token": run.token(owner)}).status_code == 200
    assert run.track({"success": True}, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    unknown = "gvk_live_" + "Q" * 32
    run.secrets.add(unknown)
    assert run.track({"api_key": unknown}).status_code == 401
    assert run.track({"api_key": secret}, HTTP_X_INTERNAL_SECRET="wrong-" + INTERNAL_SECRET).status_code == 401
    assert run.track({}, HTTP_AUTHORIZATION=f"Bearer {publishable}").status_code == 403
    assert run.track("{not json").status_code == 400
    assert run.track({"api_key": secret, "variation_count": "many"}).status_code == 400
    tampered = run.token(owner)[:-4] + "AAAA"
    run.secrets.add(tampered)
    assert run.track({"api_key": secret, "end_customer_token": tampered}).status_code == 401
    minted = session_mint(customer=owner.customer, expires_in=60)
    run.secrets.add(minted.token)
    with at(minted.expires_at + sessions.LEEWAY_SECONDS + 1):
        assert run.track({"api_key": secret, "end_customer_token": minted.token}).status_code == 401
    fenced = ApiKeyFactory(store=owner.store, allowed_domains=["shop.example"])
    run.secrets.add(fenced.plaintext)  # type: ignore[attr-defined]
    assert run.track({"api_key": fenced.plaintext, "origin": f"https://evil{ESC}.example"}).status_code == 403  # type: ignore[attr-defined]
    body = {"api_key": secret, "end_customer_token": run.token(owner)}
    assert run.track(body, HTTP_IDEMPOTENCY_KEY="gen-1").status_code == 200
    assert run.track(body, HTTP_IDEMPOTENCY_KEY="gen-1")["Idempotent-Replayed"] == "true"
    assert run.track({**body, "variation_count": 2}, HTTP_IDEMPOTENCY_KEY="gen-1").status_code == 422

    broke = make_persona("broke", credits=0)
    run.secrets.add(broke.secret)
    assert run.track({"api_key": broke.secret}).status_code == 402
    tight = make_persona("tight", quota=1)
    run.secrets.add(tight.secret)
    assert run.track({"api_key": tight.secret, "end_customer_token": run.token(tight)}).status_code == 200
    assert run.track({"api_key": tight.secret, "end_customer_token": run.token(tight)}).status_code == 402
    paused = run.token(owner)
    EndCustomer.objects.filter(pk=owner.customer.pk).update(status=EndCustomer.Status.PAUSED)
    assert run.track({"api_key": secret, "end_customer_token": paused}).status_code == 402
    EndCustomer.objects.filter(pk=owner.customer.pk).update(status=EndCustomer.Status.ACTIVE)

    # --- the REST API ---
    api = V1(run.client, secret)
    created = api.post("/customers", {"externalId": f"shopper{ESC}-2", "planId": owner.plan.public_id})
    assert run.keep(created).status_code == 201
    minted_api = run.keep(api.post(f"/customers/{owner.customer.public_id}/sessions", {"expires_in": 600}))
    assert minted_api.status_code == 200, minted_api.content
    run.secrets.add(minted_api.json()["token"])
    hook = run.keep(api.post("/webhooks", {"url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET}))
    assert hook.status_code == 201, hook.content
    generated = run.keep(api.post("/webhooks", {"url": "http://127.0.0.1:9/other"}))
    run.secrets |= {WEBHOOK_SECRET, generated.json()["secret"]}
    assert run.keep(V1(run.client, "gvk_live_" + "Z" * 32).get("/customers")).status_code == 401
    run.secrets.add("gvk_live_" + "Z" * 32)

    # --- portal sign-in, a key made and revoked ---
    assert run.keep(run.client.post(reverse("login"), {"username": owner.user.username, "password": WRONG_PASSWORD}))
    signed = run.keep(run.client.post(reverse("login"), {"username": owner.user.username, "password": PASSWORD}))
    assert signed.status_code == 302
    run.secrets.add(run.client.cookies["sessionid"].value)
    keys_url = reverse("portal-key-create", kwargs={"store_id": owner.store.public_id})
    run.keep(run.client.post(keys_url, {"label": "Ops", "kind": "secret"}))
    shown = run.keep(run.client.get(reverse("portal-keys", kwargs={"store_id": owner.store.public_id})))
    made = shown.context["revealed"]["plaintext"]
    run.secrets.add(made)
    made_key = ApiKey.objects.get(store=owner.store, label="Ops")
    revoke = reverse("portal-key-revoke", kwargs={"store_id": owner.store.public_id, "key_id": made_key.public_id})
    assert run.keep(run.client.post(revoke)).status_code == 302
    assert run.track({"api_key": made}).status_code == 401  # revoked
    run.keep(run.client.get(f"/portal/st_{ESC}/keys"))

    # --- a password reset, by its link ---
    run.client.logout()
    run.keep(run.client.post(reverse("password_reset"), {"email": owner.user.email}))
    (message,) = mail.outbox
    found = re.search(r"https?://[^/\s]+(/accounts/set-password/(\S+)/(\S+)/)", message.body)
    assert found, message.body
    link, token = found.group(1), found.group(3)
    run.secrets |= {token, NEW_PASSWORD}
    form = run.client.get(link, follow=True)
    done = run.client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert run.keep(done).status_code == 302
    run.keep(Client().get(link))  # a used link

    # --- a webhook delivery to a receiver on this machine ---
    with receiving() as receiver:
        run.keep(api.post("/webhooks", {"url": receiver.url, "events": ["tryon.completed"]}))
        assert run.track({"api_key": secret}).status_code == 200
        call_command("deliver_webhooks", "--once", "--concurrency", "1", stdout=StringIO())
    assert receiver.received


@pytest.fixture
def _private_webhooks(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


@pytest.mark.usefixtures("_private_webhooks")
def test_a_full_run_logs_no_secret_and_a_line_per_request(
    client: Client, owner: Persona, track: Track, log_lines: list[str]
) -> None:
    run = Run(client)
    scenario(run, owner, track)

    assert len(log_lines) > len(run.answers)
    for line in log_lines:
        assert "\n" not in line, line
        assert "\x1b" not in line, line
        as_text = json.dumps(json.loads(line), ensure_ascii=False)  # what any JSON reader sees
        leaked = [s for s in run.secrets if s in line or s in as_text]
        assert not leaked, f"{leaked} in {line}"

    lines = request_lines(log_lines)
    for request_id, response in run.answers.items():
        entry = lines[request_id]
        assert entry["status"] == response.status_code
        assert entry["level"] == "INFO"
        assert isinstance(entry["duration_ms"], float)
        assert entry["duration_ms"] >= 0
        assert entry["remote_addr"] == "127.0.0.1"
        assert entry["method"] in ("GET", "POST")
        assert not entry["route"].startswith("/"), entry  # a pattern, never a path
        assert "st_" not in entry["route"], entry

    tracked = [e for e in lines.values() if e["route"] == "api/tryon/track"]
    assert {e["status"] for e in tracked} == {200, 400, 401, 402, 403, 422}
    owners = [e for e in tracked if e.get("key_prefix") == owner.key.prefix]
    assert owners
    assert all(e["store"] == owner.store.public_id for e in owners)
    # A key that does not exist names no store; the others name theirs.
    assert [e for e in tracked if e["status"] == 401 and "store" not in e]
    api_lines = [e for e in lines.values() if e["route"].startswith("api/v1/")]
    assert {e["route"] for e in api_lines} >= {"api/v1/customers", "api/v1/customers/<str:customer_id>/sessions"}
    assert all(e["key_prefix"] == owner.key.prefix for e in api_lines if e["status"] != 401)
    assert "accounts/set-password/<uidb64>/<token>/" in {e["route"] for e in lines.values()}

    # The service's own line carries its request's context; a control character in a URL shows escaped.
    refusals = [e for e in parsed(log_lines) if e["message"].startswith("track refused")]
    (refusal,) = [e for e in refusals if "domain_not_allowed" in e["message"]]
    assert refusal["request_id"] in run.answers
    assert refusal["store"] == owner.store.public_id
    assert refusal["key_prefix"] == fenced_prefix(owner)
    assert "\x1b" not in refusal["message"]
    (portal,) = [e for e in lines.values() if e.get("store", "").startswith("st_\x1b")]
    (raw,) = [line for line in log_lines if portal["request_id"] in line and "genvoris.request" in line]
    assert '"store": "st_\\u001b[2J"' in raw


def test_the_request_id_is_echoed_or_replaced(client: Client, log_lines: list[str]) -> None:
    kept = client.get("/", HTTP_X_REQUEST_ID="trace-42.a:b")
    assert kept["X-Request-Id"] == "trace-42.a:b"
    replaced = client.get("/", HTTP_X_REQUEST_ID=f"evil{ESC}")
    assert re.fullmatch(r"req_[0-9a-f]{32}", replaced["X-Request-Id"])
    assert set(request_lines(log_lines)) == {"trace-42.a:b", replaced["X-Request-Id"]}


def test_a_control_character_in_a_header_is_logged_escaped(client: Client, log_lines: list[str], settings: Any) -> None:
    settings.NUM_PROXIES = 1  # the address comes from X-Forwarded-For, which the caller wrote
    client.get("/", HTTP_X_FORWARDED_FOR=f"203.0.113.9{ESC}")
    (line,) = [line for line in log_lines if "genvoris.request" in line]
    assert '"remote_addr": "203.0.113.9\\u001b[2J"' in line
    assert json.loads(line)["remote_addr"] == f"203.0.113.9{ESC}"


def test_probes_log_at_debug_and_name_their_path(client: Client, log_lines: list[str]) -> None:
    client.get("/healthz")
    (entry,) = request_lines(log_lines).values()
    assert (entry["route"], entry["level"]) == ("/healthz", "DEBUG")
    assert logs.HEALTH_PATHS == health.PATHS  # kept apart only because of import order
    assert metrics.PATH in logs._FIXED_ROUTES


@pytest.mark.parametrize("token", ["abc-secret-token", "abc-secret-t\u00e9ken", "abc-secret\\token"])
def test_djangos_request_records_name_the_route_not_the_path(client: Client, log_lines: list[str], token: str) -> None:
    """Django escapes the path (unicode_escape) before it logs: a non-ASCII or backslashed path
    reaches the filter escaped, and must be swapped for the route all the same."""
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", (), None)
    request = client.get(f"/accounts/set-password/MQ/{token}/").wsgi_request
    record.args, record.request = (request.path.encode("unicode_escape").decode("ascii"),), request
    assert logs.ContextFilter().filter(record)
    assert record.getMessage() == "Internal Server Error: accounts/set-password/<uidb64>/<token>/"


def test_the_plain_format_escapes_control_characters() -> None:
    formatter = logs.PlainFormatter(
        fmt=settings.LOGGING["formatters"]["plain"]["fmt"], defaults=settings.LOGGING["formatters"]["plain"]["defaults"]
    )
    record = logging.LogRecord("genvoris.x", logging.INFO, __file__, 1, "origin %s", (f"a{ESC}\nb\x7f\x85",), None)
    line = formatter.format(record)
    assert line.endswith("[- - -] origin a\\x1b[2J\\x0ab\\x7f\\x85")


def test_the_json_format_escapes_delete_too() -> None:
    formatter = logs.JsonFormatter(fmt=settings.LOGGING["formatters"]["json"]["fmt"])
    record = logging.LogRecord("genvoris.x", logging.INFO, __file__, 1, "x%sy", ("\x7f\x00\u2028",), None)
    line = formatter.format(record)
    assert '"message": "x\\u007f\\u0000\\u2028y"' in line
    assert json.loads(line)["message"] == "x\x7f\x00\u2028y"


@pytest.mark.parametrize(("environment", "expected"), [({}, "json"), ({"DEBUG": "true"}, "plain")])
def test_the_format_is_json_unless_debug(environment: dict[str, str], expected: str, tmp_path: Any) -> None:
    # A fresh process: the settings module reads its environment once.
    code = "from django.conf import settings as s; print(s.LOGGING['handlers']['console']['formatter'], s.LOG_FORMAT)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "genvoris.settings", "SECRET_KEY": "x" * 50, **environment}
    env.pop("LOG_FORMAT", None)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "-c", "import environ; environ.Env.read_env = lambda *a, **k: None; " + code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [expected, expected]


def test_every_line_goes_through_the_context_filter() -> None:
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["context"]
    assert settings.LOGGING["handlers"]["console"]["formatter"] == settings.LOG_FORMAT
