"""Personas shared by every app's tests: an owner whose store is tested, and an outsider who
must be refused everything of it."""

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from genvoris.tests.chromium import CHROMIUM, CHROMIUM_ARGS
from quotas.models import EndCustomer, Plan
from quotas.sessions import session_mint
from quotas.tests.factories import EndCustomerFactory, PlanFactory
from stores.models import ApiKey, Membership, Store
from stores.tests.factories import ApiKeyFactory, StoreFactory, UserFactory, give_credits

INTERNAL_SECRET = "test-internal-secret"


@dataclass
class Persona:
    user: Any
    store: Store
    key: ApiKey
    publishable: ApiKey
    plan: Plan
    customer: EndCustomer

    @property
    def secret(self) -> str:
        return self.key.plaintext  # type: ignore[attr-defined]

    def token(self, customer: EndCustomer | None = None, expires_in: int = 900) -> str:
        return session_mint(customer=customer or self.customer, expires_in=expires_in).token

    def refresh(self) -> None:
        self.store.refresh_from_db()


def make_persona(name: str, credits: int = 100, quota: int = 10) -> Persona:
    user = UserFactory(username=f"{name}@example.com")
    store = StoreFactory(name=f"{name.title()} Shop")
    Membership.objects.create(user=user, store=store, role=Membership.Role.OWNER)
    if credits:
        give_credits(store, credits)
    plan = PlanFactory(store=store, monthly_try_ons=quota)
    return Persona(
        user=user,
        store=store,
        key=ApiKeyFactory(store=store),
        publishable=ApiKeyFactory(store=store, kind=ApiKey.Kind.PUBLISHABLE),
        plan=plan,
        customer=EndCustomerFactory(store=store, plan=plan, external_id=f"{name}-shopper"),
    )


def make_member(store: Store, name: str, role: str) -> Any:
    """A user who belongs to the store with the role (owner, developer or viewer) and nothing else."""
    user = UserFactory(username=f"{name}@example.com")
    Membership.objects.create(user=user, store=store, role=role)
    return user


@pytest.fixture
def owner(db: None) -> Persona:
    return make_persona("owner")


@pytest.fixture
def outsider(db: None) -> Persona:
    return make_persona("outsider")


Track = Callable[..., Any]


@pytest.fixture
def track(client: Client) -> Track:
    """POST /api/tryon/track the way the reference backend does (x-internal-secret + body key)."""

    def post(body: dict[str, Any] | str | bytes, *, secret: str | None = INTERNAL_SECRET, **meta: str) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        if secret is not None:
            meta.setdefault("HTTP_X_INTERNAL_SECRET", secret)
        return client.post("/api/tryon/track", data=data, content_type="application/json", **meta)

    return post


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent connections with row locks (make test-pg)")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate-limit counters live in the cache; no test may inherit another's."""
    from django.core.cache import cache

    from quotas import sessions

    cache.clear()
    sessions._public_keys.clear()  # signing keys of an earlier test's rolled-back rows


class V1:
    """A merchant server calling /api/v1 with a store key."""

    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        data = json.dumps(body) if body is not None else ""
        return self.client.post(
            f"/api/v1{path}",
            data=data,
            content_type=kwargs.pop("content_type", "application/json"),
            headers=self.headers,
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            f"/api/v1{path}", data=json.dumps(body), content_type="application/json", headers=self.headers
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self.headers)


@pytest.fixture
def api(owner: Persona) -> V1:
    return V1(Client(), owner.secret)


@pytest.fixture
def outsider_api(outsider: Persona) -> V1:
    return V1(Client(), outsider.secret)


# --- browser tests ----------------------------------------------------------------------------

SCREENSHOTS = Path(__file__).resolve().parent / "docs" / "screenshots"
# `make screenshots` refreshes docs/screenshots/; a plain test run writes its pictures to a
# temporary folder, so `make test` never rewrites committed files.
UPDATE_SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS") == "1"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright; the tests skip, saying why, where it is absent."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install -y chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between page actions are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    # widget.js sends its funnel events with a beacon when the page goes (requests that outlive the
    # page escape routing): none may reach the live server while the test's database is emptied.
    context.route("**/api/tryon/events", lambda route: route.fulfill(status=202, body="{}"))
    for open_page in context.pages:
        with suppress(Exception):
            open_page.evaluate("navigator.sendBeacon = () => true")
    context.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Picture what the page shows now: under docs/screenshots/ for readers of the repository
    with UPDATE_SCREENSHOTS=1 (`make screenshots`), else in a temporary folder."""
    folder = SCREENSHOTS if UPDATE_SCREENSHOTS else Path(tempfile.gettempdir()) / "genvoris-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@contextmanager
def connection_kept() -> Iterator[None]:
    """Django's WSGI handler closes the database connection when a request ends, as it should in
    production. A request served in-process inside a test's transaction must keep the test's
    connection, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file for operator flows run as subprocesses, made once per session."""
    from stores.tests.test_commands import migrate_template

    return migrate_template(tmp_path_factory)


@pytest.fixture
def sqlite_db(migrated_template: Path, tmp_path: Path) -> Path:
    """A database of the test's own for subprocess flows, which never share rows."""
    from stores.tests.test_commands import copy_database

    return copy_database(migrated_template, tmp_path)


# Transaction control is not work: statement budgets count everything else.
_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


@pytest.fixture
def at_most() -> Callable[[int], Any]:
    """`with at_most(n) as statements:` fails when the block runs more than n statements (BEGIN,
    COMMIT and savepoints not counted); `statements` holds them afterwards."""

    @contextmanager
    def budget(limit: int) -> Iterator[list[str]]:
        with CaptureQueriesContext(connection) as captured:
            statements: list[str] = []
            yield statements
        statements += [
            q["sql"] for q in captured.captured_queries if not q["sql"].lstrip().upper().startswith(_CONTROL)
        ]
        assert len(statements) <= limit, f"{len(statements)} statements > {limit}:\n" + "\n".join(statements)

    return budget
