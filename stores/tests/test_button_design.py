"""The button design (SPEC §17): the service's validation and audit, `GET/POST /api/v1/button-design`
with a secret key, and the public `GET /api/widget/button-design` the widget reads."""

import json
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import V1, Persona
from genvoris.errors import ApiError
from stores import selectors
from stores.models import ApiKey, AuditEntry, ButtonDesign
from stores.services import SYSTEM, Actor, api_key_revoke, button_design_update, store_suspend
from stores.tests.factories import ApiKeyFactory
from tryon.tests.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db

DEFAULTS = {
    "label": "Try On",
    "icon": "sparkles",
    "borderRadius": 8,
    "fontSize": 14,
    "paddingX": 20,
    "paddingY": 10,
    "position": "inline",
    "showOnCards": False,
}
CUSTOM = {
    "label": "Essayer",
    "icon": "wand",
    "borderRadius": 40,
    "fontSize": 24,
    "paddingX": 4,
    "paddingY": 40,
    "position": "floating-left",
    "showOnCards": True,
}
PUBLIC = "/api/widget/button-design"


def design_of(persona: Persona) -> dict[str, Any]:
    return selectors.button_design_json(selectors.button_design_of(persona.store))


def audit(persona: Persona) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(store=persona.store, action=AuditEntry.Action.BUTTON_DESIGN_UPDATED).order_by("id")
    )


# --- the model and the service ------------------------------------------------------------------


def test_the_database_holds_the_published_choices() -> None:
    constraints = {c.name: c for c in ButtonDesign._meta.constraints}
    assert constraints["stores_buttondesign_icon_valid"].condition.children == [("icon__in", ButtonDesign.Icon.values)]
    assert constraints["stores_buttondesign_position_valid"].condition.children == [
        ("position__in", ButtonDesign.Position.values)
    ]
    assert list(ButtonDesign.FIELDS) == list(DEFAULTS)
    assert selectors.button_design_defaults() == DEFAULTS


def test_a_store_that_never_changed_it_has_the_defaults_and_no_row(owner: Persona) -> None:
    assert design_of(owner) == DEFAULTS
    assert not ButtonDesign.objects.exists()


def test_a_change_is_audited_with_what_it_replaced(owner: Persona) -> None:
    button_design_update(store=owner.store, values={"label": "Essayer", "borderRadius": 12}, actor=Actor("tester"))
    button_design_update(store=owner.store, values={"borderRadius": 0}, actor=SYSTEM)
    first, second = audit(owner)
    assert (first.target, first.actor, first.detail) == (
        owner.store.public_id,
        "tester",
        {"label": ["Try On", "Essayer"], "border_radius": [8, 12]},
    )
    assert (second.actor, second.detail) == ("system", {"border_radius": [12, 0]})
    assert design_of(owner) == {**DEFAULTS, "label": "Essayer", "borderRadius": 0}


def test_a_change_to_what_it_already_is_writes_nothing(owner: Persona) -> None:
    button_design_update(store=owner.store, values={"label": "Essayer"}, actor=SYSTEM)
    updated_at = ButtonDesign.objects.get().updated_at
    for values in [{"label": "Essayer"}, {"label": "  Essayer "}, {}, {"fontSize": 14}]:
        button_design_update(store=owner.store, values=values, actor=SYSTEM)
    assert len(audit(owner)) == 1
    assert ButtonDesign.objects.get().updated_at == updated_at


def test_a_refused_change_changes_nothing(owner: Persona) -> None:
    button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
    with pytest.raises(ApiError) as refused:
        button_design_update(store=owner.store, values={"label": "Fine", "fontSize": 99}, actor=SYSTEM)
    assert refused.value.extra["fieldErrors"] == {"fontSize": ["Must be a whole number from 10 to 24."]}
    assert design_of(owner) == CUSTOM
    assert len(audit(owner)) == 1


# --- GET/POST /api/v1/button-design --------------------------------------------------------------


def test_get_answers_the_defaults_in_resource_casing(api: V1) -> None:
    response = api.get("/button-design")
    assert response.status_code == 200
    assert response.json() == {"data": DEFAULTS}


def test_post_is_partial_and_answers_the_whole_design(api: V1, owner: Persona) -> None:
    response = api.post("/button-design", {"label": "  Essayer  ", "position": "floating-right"})
    assert response.status_code == 200
    assert response.json() == {"data": {**DEFAULTS, "label": "Essayer", "position": "floating-right"}}
    assert api.post("/button-design", {"showOnCards": True}).json()["data"] == {
        **DEFAULTS,
        "label": "Essayer",
        "position": "floating-right",
        "showOnCards": True,
    }
    assert api.get("/button-design").json()["data"]["label"] == "Essayer"
    (first, _) = audit(owner)
    assert first.actor == f"api:{owner.key.prefix}"


def test_post_takes_every_field_at_once(api: V1, owner: Persona) -> None:
    assert api.post("/button-design", CUSTOM).json() == {"data": CUSTOM}
    assert design_of(owner) == CUSTOM


def test_an_empty_body_changes_nothing(api: V1, owner: Persona) -> None:
    assert api.post("/button-design").json() == {"data": DEFAULTS}
    assert api.post("/button-design", {}).json() == {"data": DEFAULTS}
    assert audit(owner) == []


BOUNDS = [("borderRadius", 0, 40), ("fontSize", 10, 24), ("paddingX", 4, 60), ("paddingY", 4, 40)]


@pytest.mark.parametrize(("field", "low", "high"), BOUNDS)
def test_each_number_is_taken_at_its_bounds_and_refused_past_them(
    api: V1, owner: Persona, field: str, low: int, high: int
) -> None:
    for value in (low, high):
        assert api.post("/button-design", {field: value}).json()["data"][field] == value
    for value in (low - 1, high + 1):
        response = api.post("/button-design", {field: value})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_body"
        assert response.json()["fieldErrors"] == {field: [f"Must be a whole number from {low} to {high}."]}
    assert design_of(owner)[field] == high


@pytest.mark.parametrize("field", [name for name, _, _ in BOUNDS])
@pytest.mark.parametrize("value", ["12", 12.0, 12.5, True, None, [], {}, "", 10**30])
def test_numbers_must_be_json_integers(api: V1, owner: Persona, field: str, value: Any) -> None:
    response = api.post("/button-design", {field: value})
    assert response.status_code == 400, value
    assert list(response.json()["fieldErrors"]) == [field]
    assert design_of(owner) == DEFAULTS


LABELS_REFUSED = {
    "": "Must be 1 to 20 characters.",
    "   ": "Must be 1 to 20 characters.",
    "x" * 21: "Must be 1 to 20 characters.",
    "Try\nOn": "Must not contain control characters.",
    "Try\u0007On": "Must not contain control characters.",
    "Try\u009bOn": "Must not contain control characters.",
}


@pytest.mark.parametrize(("label", "message"), LABELS_REFUSED.items())
def test_labels_refused(api: V1, label: str, message: str) -> None:
    response = api.post("/button-design", {"label": label})
    assert response.status_code == 400
    assert response.json()["fieldErrors"] == {"label": [message]}


@pytest.mark.parametrize("label", [5, None, True, ["Try On"], {"text": "Try On"}])
def test_a_label_must_be_a_string(api: V1, label: Any) -> None:
    assert api.post("/button-design", {"label": label}).json()["fieldErrors"] == {"label": ["Must be a string."]}


@pytest.mark.parametrize("label", ["x" * 20, "A", "Anprobieren 👗", "جرّبه", "👩‍👩‍👧 Try"])
def test_labels_taken(api: V1, label: str) -> None:
    assert api.post("/button-design", {"label": label}).json()["data"]["label"] == label


def test_a_label_with_a_nul_is_refused_by_the_body_reader(api: V1) -> None:
    response = api.post("/button-design", {"label": "Try\u0000On"})
    assert response.status_code == 400
    assert "label" in response.json()["fieldErrors"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("icon", "Sparkles"),
        ("icon", "rocket"),
        ("icon", None),
        ("icon", 1),
        ("icon", ["eye"]),
        ("position", "floating"),
        ("position", "INLINE"),
        ("position", None),
        ("showOnCards", "true"),
        ("showOnCards", 1),
        ("showOnCards", None),
    ],
)
def test_choices_and_booleans_are_strict(api: V1, owner: Persona, field: str, value: Any) -> None:
    response = api.post("/button-design", {field: value})
    assert response.status_code == 400
    assert list(response.json()["fieldErrors"]) == [field]
    assert design_of(owner) == DEFAULTS


def test_every_choice_is_taken(api: V1) -> None:
    for icon in ["none", "camera", "sparkles", "shirt", "eye", "wand"]:
        assert api.post("/button-design", {"icon": icon}).json()["data"]["icon"] == icon
    for position in ["floating-right", "floating-left", "inline"]:
        assert api.post("/button-design", {"position": position}).json()["data"]["position"] == position


def test_unknown_fields_are_refused_with_everything_else_wrong(api: V1, owner: Persona) -> None:
    response = api.post("/button-design", {"label": "Fine", "color": "red", "fontSize": 9, "border_radius": 4})
    assert response.status_code == 400
    errors = response.json()["fieldErrors"]
    assert set(errors) == {"color", "fontSize", "border_radius"}
    assert errors["color"] == [
        "Unknown field. The fields are: label, icon, borderRadius, fontSize, paddingX, paddingY, position, showOnCards."
    ]
    assert design_of(owner) == DEFAULTS  # the valid label was not applied either


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [("[1, 2]", "application/json", 400), ('"Try On"', "application/json", 400), ("{", "application/json", 400)],
)
def test_a_body_that_is_not_a_json_object(api: V1, body: str, content_type: str, status: int) -> None:
    response = api.client.post("/api/v1/button-design", body, content_type=content_type, headers=api.headers)
    assert response.status_code == status
    assert response.json()["error"] == "invalid_body"


def test_a_form_body_is_415(api: V1) -> None:
    response = api.client.post("/api/v1/button-design", {"label": "x"}, headers=api.headers)
    assert response.status_code == 415


class TestAccess:
    def test_needs_a_key(self, client: Client) -> None:
        for method in ("get", "post"):
            response = getattr(client, method)("/api/v1/button-design")
            assert response.status_code == 401, method
            assert response.json()["error"] == "unauthorized"

    def test_a_publishable_key_is_403(self, client: Client, owner: Persona) -> None:
        publishable = V1(client, owner.publishable.plaintext)  # type: ignore[attr-defined]
        for response in (publishable.get("/button-design"), publishable.post("/button-design", {"label": "Hacked"})):
            assert response.status_code == 403
            assert response.json()["error"] == "insufficient_scope"
        assert design_of(owner) == DEFAULTS

    def test_a_revoked_key_is_401(self, api: V1, owner: Persona) -> None:
        api_key_revoke(key=owner.key)
        assert api.post("/button-design", {"label": "Hacked"}).json()["error"] == "invalid_key"
        assert design_of(owner) == DEFAULTS

    def test_a_suspended_store_is_403(self, api: V1, owner: Persona) -> None:
        store_suspend(store=owner.store, note="unpaid", actor=SYSTEM)
        assert api.post("/button-design", {"label": "Hacked"}).json()["error"] == "account_inactive"

    def test_each_store_sees_and_changes_only_its_own(
        self, api: V1, outsider_api: V1, owner: Persona, outsider: Persona
    ) -> None:
        api.post("/button-design", CUSTOM)
        assert outsider_api.get("/button-design").json() == {"data": DEFAULTS}
        assert outsider_api.post("/button-design", {"label": "Theirs"}).json()["data"]["label"] == "Theirs"
        assert design_of(owner) == CUSTOM
        assert design_of(outsider) == {**DEFAULTS, "label": "Theirs"}

    def test_other_methods(self, api: V1) -> None:
        assert api.patch("/button-design", {"label": "x"}).status_code == 405
        assert api.delete("/button-design").status_code == 405
        assert api.client.post("/api/v1/button-design/", "{}", content_type="application/json").status_code == 404


# --- GET /api/widget/button-design ---------------------------------------------------------------


def public_get(client: Client, key: str | None = None, **headers: str) -> Any:
    return client.get(PUBLIC, {"key": key} if key is not None else {}, headers=headers)


def assert_public(response: Any, data: dict[str, Any], *, cacheable: bool = True) -> None:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"data": data}
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == ("public, max-age=60" if cacheable else "no-store")
    assert "X-API-Key" in response["Vary"]
    assert "Set-Cookie" not in response


class TestPublicEndpoint:
    def test_the_store_s_design_for_its_publishable_key(self, client: Client, owner: Persona) -> None:
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        assert_public(public_get(client, owner.publishable.plaintext), CUSTOM)  # type: ignore[attr-defined]
        header = public_get(client, **{"X-API-Key": owner.publishable.plaintext})  # type: ignore[attr-defined]
        assert_public(header, CUSTOM)

    def test_each_key_its_own_store(self, client: Client, owner: Persona, outsider: Persona) -> None:
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        button_design_update(store=outsider.store, values={"label": "Theirs"}, actor=SYSTEM)
        assert public_get(client, outsider.publishable.plaintext).json()["data"]["label"] == "Theirs"  # type: ignore[attr-defined]
        second = ApiKeyFactory(store=owner.store, kind=ApiKey.Kind.PUBLISHABLE)
        assert public_get(client, second.plaintext).json()["data"] == CUSTOM

    def test_a_store_that_never_changed_it_gets_the_defaults(self, client: Client, owner: Persona) -> None:
        assert_public(public_get(client, owner.publishable.plaintext), DEFAULTS)  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        "key",
        [
            None,
            "",
            "   ",
            "gvk_pub_unknownunknownunknownunknown12",
            "gvk_pub_",
            "gvk_pub_" + "x" * 300,
            "nonsense",
            "gvk_pub_\u0000x",
            "gvk_pub_%00",
            "<script>alert(1)</script>",
            "gvk_pub_ü" * 20,
        ],
    )
    def test_anything_else_gets_the_defaults(self, client: Client, owner: Persona, key: str | None) -> None:
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        assert_public(public_get(client, key), DEFAULTS)

    def test_raw_junk_in_the_query_string(self, client: Client, owner: Persona) -> None:
        for query in ["key=%ff%fe", "key=%00", "key", "key=a&key=b&key=c", "%zz=1", "key=" + "a" * 10_000]:
            response = client.get(f"{PUBLIC}?{query}")
            assert_public(response, DEFAULTS)

    def test_json_whatever_the_browser_accepts(self, client: Client, owner: Persona) -> None:
        key = owner.publishable.plaintext  # type: ignore[attr-defined]
        for response in [
            client.get(PUBLIC, {"key": key}, headers={"Accept": "text/html"}),
            client.get(PUBLIC, {"key": key, "format": "api"}),
            client.get(PUBLIC, {"key": key}, headers={"Accept": "image/png;q=1, */*;q=0"}),
        ]:
            assert_public(response, DEFAULTS)

    def test_a_secret_key_is_never_looked_up(self, client: Client, owner: Persona) -> None:
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        with CaptureQueriesContext(connection) as queries:
            response = public_get(client, owner.secret)
        assert_public(response, DEFAULTS)
        assert len(queries) == 0

    def test_a_revoked_key_gets_the_defaults_at_once(self, client: Client, owner: Persona) -> None:
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        key = owner.publishable.plaintext  # type: ignore[attr-defined]
        assert public_get(client, key).json()["data"] == CUSTOM
        api_key_revoke(key=owner.publishable)
        assert_public(public_get(client, key), DEFAULTS)

    def test_a_change_shows_at_once_here(
        self, client: Client, owner: Persona, django_capture_on_commit_callbacks: Any
    ) -> None:
        key = owner.publishable.plaintext  # type: ignore[attr-defined]
        assert public_get(client, key).json()["data"] == DEFAULTS  # now kept for a minute
        with django_capture_on_commit_callbacks(execute=True):
            button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        assert public_get(client, key).json()["data"] == CUSTOM

    def test_it_reveals_nothing_but_the_design(self, client: Client, owner: Persona) -> None:
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        body = public_get(client, owner.publishable.plaintext).content.decode()  # type: ignore[attr-defined]
        for secret in [owner.store.public_id, owner.store.name, owner.publishable.public_id, str(owner.store.pk)]:
            assert secret not in body
        assert set(json.loads(body)) == {"data"}

    def test_a_suspended_store_still_gets_its_design(self, client: Client, owner: Persona) -> None:
        """The widget's status preflight tells the shopper; the button looks as the store made it."""
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        store_suspend(store=owner.store, note="unpaid", actor=SYSTEM)
        assert public_get(client, owner.publishable.plaintext).json()["data"] == CUSTOM  # type: ignore[attr-defined]

    def test_cors_preflight_and_other_methods(self, client: Client) -> None:
        preflight = client.options(
            PUBLIC, headers={"Origin": "https://shop.example", "Access-Control-Request-Headers": "x-api-key"}
        )
        assert preflight.status_code == 204
        assert preflight["Access-Control-Allow-Origin"] == "*"
        assert "X-API-Key" in preflight["Access-Control-Allow-Headers"]
        assert "GET" in preflight["Access-Control-Allow-Methods"]
        posted = client.post(PUBLIC, "{}", content_type="application/json")
        assert (posted.status_code, posted.json()["error"], posted["Access-Control-Allow-Origin"]) == (
            405,
            "method_not_allowed",
            "*",
        )
        assert client.head(PUBLIC).status_code == 200


class TestPublicEndpointCost:
    def test_one_statement_then_none(self, client: Client, owner: Persona) -> None:
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        key = owner.publishable.plaintext  # type: ignore[attr-defined]
        with CaptureQueriesContext(connection) as first:
            assert public_get(client, key).json()["data"] == CUSTOM
        with CaptureQueriesContext(connection) as again:
            assert public_get(client, key).json()["data"] == CUSTOM
        assert (len(first), len(again)) == (1, 0)

    def test_an_unknown_key_costs_one_statement_then_none(self, client: Client, owner: Persona) -> None:
        key = "gvk_pub_madeupmadeupmadeupmadeupmade"
        for expected in (1, 0):
            with CaptureQueriesContext(connection) as queries:
                assert_public(public_get(client, key), DEFAULTS)
            assert len(queries) == expected

    def test_a_flood_of_made_up_keys_is_served_the_defaults_without_reading(
        self, client: Client, owner: Persona, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(selectors, "PUBLIC_DESIGN_READS_PER_MINUTE", 3)
        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        real = owner.publishable.plaintext  # type: ignore[attr-defined]
        assert public_get(client, real).json()["data"] == CUSTOM  # a read: 1 of 3, now kept
        for index in range(2):
            assert_public(public_get(client, f"gvk_pub_madeup{index:026d}"), DEFAULTS)
        with CaptureQueriesContext(connection) as queries:
            limited = public_get(client, "gvk_pub_madeup99999999999999999999999")
            kept = public_get(client, real)
        assert_public(limited, DEFAULTS, cacheable=False)  # never kept by a cache: not the store's answer
        assert_public(kept, CUSTOM)  # shoppers behind the address still get what is kept
        assert len(queries) == 0
        other_address = client.get(PUBLIC, {"key": "gvk_pub_madeup88888888888888888888888"}, REMOTE_ADDR="10.9.9.9")
        assert_public(other_address, DEFAULTS)

    def test_the_database_away_is_the_defaults_never_kept(
        self, client: Client, owner: Persona, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def unreachable(plaintext: str) -> dict[str, Any]:
            raise OperationalError("connection refused")

        monkeypatch.setattr(selectors, "button_design_of_publishable_key", unreachable)
        assert_public(public_get(client, owner.publishable.plaintext), DEFAULTS, cacheable=False)  # type: ignore[attr-defined]

    def test_the_cache_away_reads_the_database(
        self, client: Client, owner: Persona, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("cache down")

        button_design_update(store=owner.store, values=CUSTOM, actor=SYSTEM)
        for method in ("get", "set", "add", "incr"):
            monkeypatch.setattr(selectors.cache, method, broken)
        assert_public(public_get(client, owner.publishable.plaintext), CUSTOM)  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
def test_racing_partial_changes_lose_nothing(owner: Persona) -> None:
    """Twenty POSTs, each changing one field to its own value, all at once (the first ones also
    racing to create the row): every field ends at a value sent, and the audit chains."""
    fields = [("fontSize", 10 + i % 15) for i in range(10)] + [("paddingX", 4 + i) for i in range(10)]
    results = run_at_once(len(fields), lambda i: V1(Client(), owner.secret).post("/button-design", dict([fields[i]])))
    assert [r.status_code for r in results] == [200] * len(fields)
    design = design_of(owner)
    assert design["fontSize"] in {v for f, v in fields if f == "fontSize"}
    assert design["paddingX"] in {v for f, v in fields if f == "paddingX"}
    assert ButtonDesign.objects.count() == 1
    changes: dict[str, list[Any]] = {"font_size": [], "padding_x": []}
    for entry in AuditEntry.objects.filter(action=AuditEntry.Action.BUTTON_DESIGN_UPDATED).order_by("id"):
        for field, change in entry.detail.items():
            changes[field].append(change)
    for field, default, final in [("font_size", 14, design["fontSize"]), ("padding_x", 20, design["paddingX"])]:
        chain = changes[field]
        assert [old for old, _ in chain] == [default] + [new for _, new in chain[:-1]]
        assert (chain[-1][1] if chain else default) == final
