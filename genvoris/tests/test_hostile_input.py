"""Nothing a stranger sends can hurt a merchant (SPEC §4): every path under /api/ and
/.well-known/ answers the JSON envelope for every method, and no body, path id or query value
produces a 500 or writes anything."""

import base64
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.core.cache import cache
from django.db import DataError, connection, transaction
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from conftest import V1, Persona
from genvoris.api import exception_handler, server_error
from genvoris.errors import ApiError
from genvoris.jsonbody import MAX_DEPTH, BoundedJSONParser, parse_json, read_body
from quotas.models import EndCustomer, Plan, ShopperSession, UsagePeriod
from stores.models import AuditEntry

pytestmark = pytest.mark.django_db

NUL, LONE_SURROGATE = "\u0000", "\ud800"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert body["error"] == code
    assert body["message"]
    assert body["detail"]
    return body


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


class Snapshot:
    """What a merchant's store holds; a refused request must leave it as it was."""

    def __init__(self, owner: Persona) -> None:
        self.owner = owner
        self.before = self.take()

    def take(self) -> list[Any]:
        customers = EndCustomer.objects.filter(store=self.owner.store).order_by("id")
        plans = Plan.objects.filter(store=self.owner.store).order_by("id")
        return [
            list(customers.values_list("external_id", "email", "plan_id", "status", "metadata", "updated_at")),
            list(plans.values_list("name", "monthly_try_ons", "external_price_id", "active", "updated_at")),
            UsagePeriod.objects.count(),
            list(ShopperSession.objects.values_list("jti", "revoked_at")),
            AuditEntry.objects.count(),
        ]

    def unchanged(self) -> bool:
        return self.take() == self.before


@pytest.fixture
def snapshot(owner: Persona) -> Snapshot:
    return Snapshot(owner)


def raw_post(api: V1, path: str, raw: str | bytes, method: str = "post") -> Any:
    send = getattr(api.client, method)
    return send(f"/api/v1{path}", data=raw, content_type="application/json", headers=api.headers)


# --- bodies: NUL, lone surrogates, depth ------------------------------------------------------


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE, f"ok{NUL}", "\udfff"])
@pytest.mark.parametrize("where", ["key", "value"])
def test_metadata_that_the_database_cannot_hold_is_refused_on_create(
    api: V1, snapshot: Snapshot, bad: str, where: str
) -> None:
    metadata = {bad: "v"} if where == "key" else {"k": bad}
    body = assert_envelope(api.post("/customers", {"externalId": "new-1", "metadata": metadata}), 400, "invalid_body")
    assert body["fieldErrors"]
    assert snapshot.unchanged()


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE])
@pytest.mark.parametrize("where", ["key", "value"])
def test_metadata_that_the_database_cannot_hold_is_refused_on_update(
    api: V1, owner: Persona, snapshot: Snapshot, bad: str, where: str
) -> None:
    metadata = {bad: "v"} if where == "key" else {"k": bad}
    path = f"/customers/{owner.customer.public_id}"
    assert_envelope(api.patch(path, {"metadata": metadata}), 400, "invalid_body")
    assert_envelope(
        api.post("/customers", {"externalId": owner.customer.external_id, "metadata": metadata}), 400, "invalid_body"
    )
    assert snapshot.unchanged()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/plans", {"name": f"P{NUL}", "monthlyTryOns": 5}),
        ("/plans", {"name": "P", "monthlyTryOns": 5, "externalPriceId": LONE_SURROGATE}),
        ("/customers", {"externalId": f"x{NUL}"}),
        ("/customers", {"externalId": "x", "email": f"a{LONE_SURROGATE}@example.com"}),
        ("/customers", {"externalId": "x", "planId": NUL}),
        ("/customers", {"externalId": "x", "metadata": {"nested": {"a": NUL}}}),
    ],
)
def test_unstorable_text_anywhere_in_a_body_is_refused(
    api: V1, snapshot: Snapshot, path: str, body: dict[str, Any]
) -> None:
    assert_envelope(api.post(path, body), 400, "invalid_body")
    assert snapshot.unchanged()


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100, 3_000, 100_000])
@pytest.mark.parametrize("path", ["/plans", "/customers"])
def test_bodies_nested_too_deep_are_refused(api: V1, snapshot: Snapshot, path: str, depth: int) -> None:
    raw = '{"name": "P", "monthlyTryOns": 5, "externalId": "x", "metadata": ' + nested(depth) + "}"
    body = assert_envelope(raw_post(api, path, raw), 400, "invalid_body")
    assert body["fieldErrors"]
    assert snapshot.unchanged()


def test_deep_bodies_are_refused_on_patch_too(api: V1, owner: Persona, snapshot: Snapshot) -> None:
    raw = '{"metadata": ' + nested(3_000) + "}"
    assert_envelope(raw_post(api, f"/customers/{owner.customer.public_id}", raw, "patch"), 400, "invalid_body")
    assert_envelope(raw_post(api, f"/plans/{owner.plan.public_id}", raw, "patch"), 400, "invalid_body")
    assert snapshot.unchanged()


@pytest.mark.parametrize(
    "raw",
    ['{"name": "P", "monthlyTryOns": NaN}', '{"name": "P", "monthlyTryOns": Infinity}', '{"x": 1e400}', "9" * 5_000],
)
def test_numbers_json_cannot_hold_are_refused(api: V1, snapshot: Snapshot, raw: str) -> None:
    assert_envelope(raw_post(api, "/plans", raw), 400, "invalid_body")
    assert snapshot.unchanged()


def test_metadata_holding_non_finite_numbers_is_refused(api: V1, snapshot: Snapshot) -> None:
    raw = '{"externalId": "x", "metadata": {"a": -Infinity}}'
    assert_envelope(raw_post(api, "/customers", raw), 400, "invalid_body")
    assert snapshot.unchanged()


def test_bodies_without_a_content_type_are_bounded_the_same_way(api: V1, snapshot: Snapshot) -> None:
    raw = '{"externalId": "x", "metadata": {"k": "\\u0000"}}'
    response = api.client.generic("POST", "/api/v1/customers", raw, content_type="", headers=api.headers)
    assert_envelope(response, 400, "invalid_body")
    assert snapshot.unchanged()


# --- path ids and query values the database cannot hold -------------------------------------


@pytest.mark.parametrize("bad", ["%00", "ec_%00", "x%00y", "%ED%A0%80", "%C0%80"])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("resource", ["customers", "plans"])
def test_ids_that_cannot_exist_are_not_found(api: V1, snapshot: Snapshot, bad: str, method: str, resource: str) -> None:
    path = f"/api/v1/{resource}/{bad}"
    response = api.client.generic(method.upper(), path, "{}", content_type="application/json", headers=api.headers)
    assert_envelope(response, 404, "not_found")
    assert snapshot.unchanged()


@pytest.mark.parametrize("suffix", ["usage", "sessions"])
def test_customer_sub_resources_with_a_nul_id_are_not_found(api: V1, snapshot: Snapshot, suffix: str) -> None:
    method = api.client.get if suffix == "usage" else api.client.post
    response = method(f"/api/v1/customers/%00/{suffix}", headers=api.headers)
    assert_envelope(response, 404, "not_found")
    assert snapshot.unchanged()


@pytest.mark.parametrize("limit", ["²", "١٢", "5²", "+5", " 5", "5.0", "-1", "0", "201", "9" * 5_000, "%00"])
def test_limits_that_are_not_ascii_integers_in_range_are_refused(api: V1, limit: str) -> None:
    response = api.client.get(f"/api/v1/customers?limit={quote(limit, safe='%')}", headers=api.headers)
    body = assert_envelope(response, 400, "invalid_body")
    assert "limit" in body["fieldErrors"]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [b"ec_\x00", b"ec_\xed\xa0\x80", b"ec_" + b"z" * 5_000, b"ec_\xff", b"pln_x", b"ec_"],
)
def test_cursors_that_name_no_customer_are_refused(api: V1, raw: bytes) -> None:
    response = api.get("/customers", cursor=b64(raw))
    body = assert_envelope(response, 400, "invalid_body")
    assert "cursor" in body["fieldErrors"]


def test_cursor_zwnfaa_from_the_report(api: V1) -> None:
    assert b64(b"ec_\x00") == "ZWNfAA"
    body = assert_envelope(api.get("/customers", cursor="ZWNfAA"), 400, "invalid_body")
    assert "cursor" in body["fieldErrors"]


@pytest.mark.parametrize(("name", "value"), [("status", NUL), ("status", "ᴀctive"), ("include_inactive", NUL)])
def test_other_query_values_are_refused_by_name(api: V1, name: str, value: str) -> None:
    path = "/customers" if name == "status" else "/plans"
    body = assert_envelope(api.get(path, **{name: value}), 400, "invalid_body")
    assert name in body["fieldErrors"]


def test_a_real_cursor_still_pages(api: V1, owner: Persona) -> None:
    for i in range(3):
        api.post("/customers", {"externalId": f"page-{i}"})
    first = api.get("/customers", limit=2).json()
    assert first["next_cursor"]
    second = api.get("/customers", limit=2, cursor=first["next_cursor"])
    assert second.status_code == 200
    assert {c["id"] for c in first["data"]}.isdisjoint(c["id"] for c in second.json()["data"])


# --- JSON, not HTML, for every method on every path ---------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing",
        "/api/v1/plans/",
        "/api/v1/customers/",
        "/api/",
        "/api/nothing/",
        "/api/v2/plans",
        "/.well-known/nothing",
        "/.well-known/jwks.json/",
    ],
)
@pytest.mark.parametrize("method", METHODS)
def test_unknown_paths_answer_json_404_for_every_method(path: str, method: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.generic(method, path, "{}", content_type="application/json")
    if method == "HEAD":
        assert response.status_code == 404
        return
    assert_envelope(response, 404, "not_found")


@pytest.mark.parametrize(
    ("path", "method", "allowed"),
    [
        ("/api/v1/plans", "PUT", {"GET", "POST"}),
        ("/api/v1/customers", "DELETE", {"GET", "POST"}),
        ("/.well-known/jwks.json", "POST", {"GET"}),
    ],
)
def test_known_paths_answer_json_405_with_allow(api: V1, path: str, method: str, allowed: set[str]) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.generic(method, path, "{}", content_type="application/json", headers=api.headers)
    assert_envelope(response, 405, "method_not_allowed")
    assert allowed <= {m.strip() for m in response["Allow"].split(",")}


@pytest.mark.parametrize("debug", [False, True])
def test_post_with_a_trailing_slash_is_not_redirected(api: V1, snapshot: Snapshot, settings: Any, debug: bool) -> None:
    settings.DEBUG = debug  # with DEBUG on, CommonMiddleware would raise rather than redirect a POST
    response = api.client.post(
        "/api/v1/plans/", data='{"name": "P", "monthlyTryOns": 5}', content_type="application/json", headers=api.headers
    )
    assert_envelope(response, 404, "not_found")
    assert "Location" not in response
    assert snapshot.unchanged()


# --- chunked bodies and the size limit --------------------------------------------------------


def chunked(api: V1, path: str, raw: bytes, method: str = "POST", **meta: Any) -> Any:
    """As gunicorn hands Django a `Transfer-Encoding: chunked` body: no CONTENT_LENGTH, the header,
    and the decoded bytes on wsgi.input, which ends where the body ends."""
    environ = {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(raw), **meta}
    return api.client.generic(
        method, f"/api/v1{path}", b"", content_type="application/json", headers=api.headers, **environ
    )


def test_chunked_bodies_are_read(api: V1, owner: Persona) -> None:
    response = chunked(api, "/plans", b'{"name": "Chunked", "monthlyTryOns": 7}')
    assert response.status_code == 201, response.content
    assert Plan.objects.filter(store=owner.store, name="Chunked", monthly_try_ons=7).exists()


def test_bodies_terminated_by_the_server_are_read_without_the_header(api: V1, owner: Persona) -> None:
    raw = b'{"name": "Terminated", "monthlyTryOns": 3}'
    response = chunked(api, "/plans", raw, HTTP_TRANSFER_ENCODING="", **{"wsgi.input_terminated": True})
    assert response.status_code == 201, response.content
    assert Plan.objects.filter(store=owner.store, name="Terminated").exists()


def test_chunked_bodies_past_the_limit_are_413(api: V1, snapshot: Snapshot, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    raw = json.dumps({"name": "Big", "monthlyTryOns": 5, "pad": "x" * 1_000}).encode()
    assert_envelope(chunked(api, "/plans", raw), 413, "payload_too_large")
    assert snapshot.unchanged()


def test_chunked_deep_bodies_are_refused(api: V1, snapshot: Snapshot) -> None:
    assert_envelope(chunked(api, "/customers", nested(3_000).encode()), 400, "invalid_body")
    assert snapshot.unchanged()


def test_declared_bodies_past_the_limit_are_413(api: V1, snapshot: Snapshot, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    raw = json.dumps({"name": "Big", "monthlyTryOns": 5, "pad": "x" * 1_000})
    assert_envelope(raw_post(api, "/plans", raw), 413, "payload_too_large")
    assert snapshot.unchanged()


# --- genvoris.jsonbody and the handler, directly ----------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{bad",
        b'"\\u0000"',
        b'{"\\ud800": 1}',
        b'["\\udc00"]',
        b"\xed\xa0\x80",
        b"NaN",
        b"1e999",
        nested(MAX_DEPTH + 1).encode(),
        nested(50_000).encode(),
        b'{"a": ' * 40 + b"1" + b"}" * 40,
    ],
)
def test_parse_json_refuses(raw: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        parse_json(raw)
    assert refused.value.status == 400
    assert refused.value.body()["fieldErrors"]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (nested(MAX_DEPTH).encode(), json.loads(nested(MAX_DEPTH))),
        ('{"emoji": "\\ud83d\\ude00", "é": 1.5}'.encode(), {"emoji": "😀", "é": 1.5}),
        (b"12345678901234567890123", 12345678901234567890123),
    ],
)
def test_parse_json_accepts(raw: bytes, value: Any) -> None:
    assert parse_json(raw) == value


def test_parse_json_names_the_field_holding_a_nul() -> None:
    with pytest.raises(ApiError) as refused:
        parse_json(b'{"metadata": {"note": "a\\u0000b"}}')
    assert list(refused.value.body()["fieldErrors"]) == ["metadata.note"]


def test_read_body_stops_reading_past_the_limit(rf: Any) -> None:
    class Endless(io.RawIOBase):
        def readinto(self, buffer: Any) -> int:
            buffer[:] = b"x" * len(buffer)
            return len(buffer)

    request = rf.post("/", CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": Endless()})
    with pytest.raises(ApiError) as refused:
        read_body(request, 10_000)
    assert refused.value.status == 413


@pytest.mark.parametrize(
    ("raw", "status"), [(nested(400).encode(), 400), (b'{"a": "\\u0000"}', 400), (b"[" + b" " * 2_000 + b"]", 413)]
)
def test_the_drf_parser_has_the_same_bounds(settings: Any, raw: bytes, status: int) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    with pytest.raises(ApiError) as refused:
        BoundedJSONParser().parse(io.BytesIO(raw))
    assert refused.value.status == status


def test_the_drf_parser_parses() -> None:
    assert BoundedJSONParser().parse(io.BytesIO(b'{"name": "P", "tags": ["a"]}')) == {"name": "P", "tags": ["a"]}


@pytest.mark.parametrize(("path", "status"), [("/api/v1/anything", 400), ("/portal/", 500)])
def test_server_errors_of_unstorable_values_are_400_under_api(rf: Any, path: str, status: int) -> None:
    """Outside DRF views (a middleware, a plain view) Django's handler500 makes the decision."""
    try:
        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    except DataError:
        response = server_error(rf.get(path))
    assert response.status_code == status


def unstorable_errors() -> Iterator[Exception]:
    """What the database driver really raises for values it cannot hold."""
    statements = [("SELECT CAST(%s AS TEXT)", ["a\ud800"]), ("SELECT CAST(%s AS INTEGER)", [2**70])]
    if connection.vendor == "postgresql":
        statements += [("SELECT CAST(%s AS TEXT)", ["a\x00b"]), ("SELECT CAST(%s AS JSONB)", ['"\\u0000"'])]
    for sql, params in statements:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
        except Exception as error:
            yield error
        else:
            pytest.fail(f"{connection.vendor} took {params!r}")


def test_the_handler_answers_400_for_values_the_database_cannot_hold() -> None:
    for error in unstorable_errors():
        response = exception_handler(error, {})
        assert response is not None, repr(error)
        assert response.status_code == 400
        assert response.data["error"] == "invalid_body"


def test_the_handler_answers_400_for_psycopg2s_nul_refusal() -> None:
    response = exception_handler(ValueError("A string literal cannot contain NUL (0x00) characters."), {})
    assert response is not None
    assert response.status_code == 400


def test_the_handler_leaves_other_value_errors_alone() -> None:
    assert exception_handler(ValueError("a bug of ours"), {}) is None
    assert exception_handler(UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range(128)"), {}) is None
    assert exception_handler(OverflowError("math range error"), {}) is None


# --- fuzz: arbitrary JSON and query strings never answer a 5xx ----------------------------------

HOSTILE_TEXT = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from([NUL, LONE_SURROGATE, "\udfff", "²", "\u202e"])), max_size=12
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**31, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    HOSTILE_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4), max_leaves=12
)
PLAN_FIELDS = ["name", "monthlyTryOns", "externalPriceId", "active"]
CUSTOMER_FIELDS = ["externalId", "email", "planId", "metadata", "status", "resetPeriod"]


def body_of(fields: list[str]) -> st.SearchStrategy[str]:
    known = st.dictionaries(st.sampled_from(fields), JSON_VALUES, max_size=len(fields))
    as_json = st.one_of(known, st.dictionaries(HOSTILE_TEXT, JSON_VALUES, max_size=3), JSON_VALUES).map(json.dumps)
    deep = st.integers(min_value=MAX_DEPTH - 2, max_value=5_000).map(lambda n: '{"metadata": ' + nested(n) + "}")
    weird = st.sampled_from(["NaN", '{"name": Infinity}', "9" * 5_000, '{"a": 1e999}', "", "{", "\ufeff{}"])
    return st.one_of(as_json, deep, weird, st.text(max_size=30))


HOSTILE_SETTINGS = fuzz_settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def answer(api: V1, method: str, path: str, raw: str | None = None) -> Any:
    """One request in a savepoint rolled back afterwards, so examples never see each other's rows."""
    cache.clear()  # the per-key budget of customer creation would soon answer 429 to everything
    with transaction.atomic():
        headers = api.headers
        if raw is None:
            response = api.client.generic(method, path, headers=headers)
        else:
            response = api.client.generic(
                method, path, raw.encode("utf-8", "surrogatepass"), "application/json", headers=headers
            )
        transaction.set_rollback(True)
    return response


def assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert_envelope(response, response.status_code, json.loads(response.content)["error"])


@HOSTILE_SETTINGS
@given(raw=body_of(PLAN_FIELDS), method=st.sampled_from(["POST", "PATCH"]))
def test_fuzz_plan_bodies(api: V1, owner: Persona, raw: str, method: str) -> None:
    path = "/api/v1/plans" if method == "POST" else f"/api/v1/plans/{owner.plan.public_id}"
    assert_no_server_error(answer(api, method, path, raw))


@HOSTILE_SETTINGS
@given(raw=body_of(CUSTOMER_FIELDS), method=st.sampled_from(["POST", "PATCH"]))
def test_fuzz_customer_bodies(api: V1, owner: Persona, raw: str, method: str) -> None:
    path = "/api/v1/customers" if method == "POST" else f"/api/v1/customers/{owner.customer.public_id}"
    assert_no_server_error(answer(api, method, path, raw))


CURSORS = st.one_of(
    HOSTILE_TEXT,
    HOSTILE_TEXT.map(lambda text: b64(f"ec_{text}".encode("utf-8", "surrogatepass"))),
    st.binary(max_size=40).map(b64),
    st.just("ZWNfAA"),
)
LIMITS = st.one_of(HOSTILE_TEXT, st.integers().map(str), st.sampled_from(["²", "١٢", "0", "200", "201"]))


@HOSTILE_SETTINGS
@given(
    params=st.fixed_dictionaries(
        {},
        optional={
            "limit": LIMITS,
            "cursor": CURSORS,
            "status": st.one_of(HOSTILE_TEXT, st.sampled_from(["active", "PAUSED", "cancelled"])),
        },
    )
)
def test_fuzz_customer_list_queries(api: V1, params: dict[str, str]) -> None:
    query = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in params.items()})
    assert_no_server_error(answer(api, "GET", f"/api/v1/customers?{query}"))


@HOSTILE_SETTINGS
@given(
    ident=HOSTILE_TEXT,
    resource=st.sampled_from(["customers", "plans", "customers/{}/usage", "customers/{}/sessions"]),
    method=st.sampled_from(["GET", "PATCH", "DELETE", "POST"]),
)
def test_fuzz_path_ids(api: V1, ident: str, resource: str, method: str) -> None:
    quoted = quote(ident.encode("utf-8", "surrogatepass"), safe="")
    path = f"/api/v1/{resource.format(quoted)}" if "{}" in resource else f"/api/v1/{resource}/{quoted}"
    assert_no_server_error(answer(api, method, path, "{}"))
