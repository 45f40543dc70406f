"""The OpenAPI contract: the schema is valid, states every bound the server enforces (so a client
generated from it never sends what the server refuses), and the API honours it for generated
requests."""

import re
from typing import Any

import pytest
import schemathesis
import yaml
from django.core.wsgi import get_wsgi_application
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import V1, Persona, connection_kept
from quotas.sessions import session_mint
from quotas.tests.factories import EndCustomerFactory
from stores.webhooks.worker import webhooks_dispatch

schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", get_wsgi_application())

PUBLISHED_PATHS = {
    "/api/tryon/track": {"post"},
    "/api/v1/plans": {"get", "post"},
    "/api/v1/plans/{plan_id}": {"get", "patch", "delete"},
    "/api/v1/customers": {"get", "post"},
    "/api/v1/customers/{customer_id}": {"get", "patch", "delete"},
    "/api/v1/customers/{customer_id}/usage": {"get"},
    "/api/v1/customers/{customer_id}/sessions": {"get", "post"},
    "/api/v1/customers/{customer_id}/sessions/{jti}": {"delete"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{endpoint_id}": {"get", "patch", "delete"},
    "/api/v1/webhooks/{endpoint_id}/test": {"post"},
    "/api/v1/webhooks/{endpoint_id}/rotate-secret": {"post"},
    "/api/v1/webhooks/{endpoint_id}/deliveries": {"get"},
    "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}": {"get"},
    "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend": {"post"},
    "/api/v1/button-design": {"get", "post"},
    "/api/v1/status": {"get"},
    "/status": {"get"},
    "/api/tryon/status": {"post"},
}


def load(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_valid_openapi_3(client: Client) -> None:
    document = load(client)
    validate(document)
    assert document["openapi"].startswith("3.")


def test_schema_documents_every_published_operation_and_its_errors(client: Client) -> None:
    paths = load(client)["paths"]
    for path, methods in PUBLISHED_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path
        for method in methods:
            responses = paths[path][method]["responses"]
            assert {"401", "503"} <= set(responses), (path, method)
            error = responses["401"]["content"]["application/json"]["schema"]["$ref"]
            assert error.endswith("/ErrorOut")


def test_track_is_documented_with_its_error_matrix(client: Client) -> None:
    track = load(client)["paths"]["/api/tryon/track"]["post"]
    assert {"200", "400", "401", "402", "403", "409", "413", "422", "429", "503"} <= set(track["responses"])
    security = {name for requirement in track["security"] for name in requirement}
    assert {"internalSecret", "storeKey"} <= security


def test_docs_are_served_from_local_assets(client: Client) -> None:
    page = client.get("/api/docs").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn." not in page
    assert "unpkg" not in page
    assert client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200


# --- bounds: what the server refuses, the schema says --------------------------------------------

PLAN_ID = {"type": "string", "pattern": "^pln_[0-9a-z]{26}$"}
CUSTOMER_ID = {"type": "string", "minLength": 1, "maxLength": 200}  # an ec_ id or an externalId
PLAN_BODY = {
    "name": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": r"\S"},
    "monthlyTryOns": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
    "externalPriceId": {"type": "string", "maxLength": 200, "nullable": True},
    "active": {"type": "boolean"},
}
PLAN_ID_FIELD = {"type": "string", "pattern": "^pln_[0-9a-z]{26}$", "maxLength": 40, "nullable": True}
METADATA = {
    "type": "object",
    "maxProperties": 20,
    "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}], "nullable": True},
    "nullable": True,
}
ENDPOINT_ID = {"type": "string", "pattern": "^whe_[0-9a-z]{26}$"}
DELIVERY_ID = {"type": "string", "pattern": "^whd_[0-9a-z]{26}$"}
EVENTS_FIELD = {"type": "array", "maxItems": 16}
PUBLISHABLE_KEY = {"type": "string", "maxLength": 100}
STATUS_KEY = {"type": "string", "maxLength": 200}
STATUS_TOKEN = {"type": "string", "maxLength": 8192}
EMAIL_FIELD = {"oneOf": [{"type": "string", "format": "email", "maxLength": 254}, {"type": "string", "maxLength": 0}]}

# (path, method) → {parameter name: the part of its schema that bounds it} (SPEC §5, §6).
PARAMETER_BOUNDS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("/api/widget/button-design", "get"): {"key": PUBLISHABLE_KEY, "X-API-Key": PUBLISHABLE_KEY},
    ("/api/v1/plans", "get"): {"include_inactive": {"type": "boolean"}, "includeInactive": {"type": "boolean"}},
    ("/api/v1/plans/{plan_id}", "get"): {"plan_id": PLAN_ID},
    ("/api/v1/plans/{plan_id}", "patch"): {"plan_id": PLAN_ID},
    ("/api/v1/plans/{plan_id}", "delete"): {"plan_id": PLAN_ID},
    ("/api/v1/customers", "get"): {
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "status": {"type": "string", "enum": ["ACTIVE", "CANCELLED", "PAUSED"]},
        "cursor": {"type": "string", "pattern": "^ZWNf[A-Za-z0-9_-]{35}$"},
    },
    ("/api/v1/customers/{customer_id}", "get"): {"customer_id": CUSTOMER_ID},
    ("/api/v1/customers/{customer_id}", "patch"): {"customer_id": CUSTOMER_ID},
    ("/api/v1/customers/{customer_id}", "delete"): {"customer_id": CUSTOMER_ID},
    ("/api/v1/customers/{customer_id}/usage", "get"): {"customer_id": CUSTOMER_ID},
    ("/api/v1/customers/{customer_id}/sessions", "post"): {"customer_id": CUSTOMER_ID},
    ("/api/v1/customers/{customer_id}/sessions", "get"): {
        "customer_id": CUSTOMER_ID,
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 100},
        "cursor": {"type": "string", "pattern": "^ZWNf[A-Za-z0-9_-]{1,200}$"},
    },
    ("/api/v1/status", "get"): {"token": STATUS_TOKEN, "end_customer_token": STATUS_TOKEN},
    ("/status", "get"): {
        "api_key": STATUS_KEY,
        "X-API-Key": STATUS_KEY,
        "token": STATUS_TOKEN,
        "end_customer_token": STATUS_TOKEN,
    },
    ("/api/v1/customers/{customer_id}/sessions/{jti}", "delete"): {
        "customer_id": CUSTOMER_ID,
        "jti": {"type": "string", "pattern": "^ec_[0-9a-z]{26}-([0-9]{1,10})-([A-Za-z0-9_-]{1,64})$"},
    },
    ("/api/v1/webhooks/{endpoint_id}", "get"): {"endpoint_id": ENDPOINT_ID},
    ("/api/v1/webhooks/{endpoint_id}", "patch"): {"endpoint_id": ENDPOINT_ID},
    ("/api/v1/webhooks/{endpoint_id}", "delete"): {"endpoint_id": ENDPOINT_ID},
    ("/api/v1/webhooks/{endpoint_id}/test", "post"): {"endpoint_id": ENDPOINT_ID},
    ("/api/v1/webhooks/{endpoint_id}/rotate-secret", "post"): {"endpoint_id": ENDPOINT_ID},
    ("/api/v1/webhooks/{endpoint_id}/deliveries", "get"): {
        "endpoint_id": ENDPOINT_ID,
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
        "status": {"type": "string", "enum": ["dead", "failed", "pending", "succeeded"]},
        "event_type": {"type": "string"},
        "cursor": {"type": "string", "pattern": "^d2hkX[A-Za-z0-9_-]{35}$"},
    },
    ("/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}", "get"): {
        "endpoint_id": ENDPOINT_ID,
        "delivery_id": DELIVERY_ID,
    },
    ("/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend", "post"): {
        "endpoint_id": ENDPOINT_ID,
        "delivery_id": DELIVERY_ID,
    },
}
# (path, method) → {body field: the part of its schema that bounds it}.
BODY_BOUNDS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("/api/v1/button-design", "post"): {
        "label": {"type": "string", "minLength": 1, "maxLength": 20, "pattern": r"\S"},
        "icon": {"enum": ["none", "camera", "sparkles", "shirt", "eye", "wand"]},
        "borderRadius": {"type": "integer", "minimum": 0, "maximum": 40},
        "fontSize": {"type": "integer", "minimum": 10, "maximum": 24},
        "paddingX": {"type": "integer", "minimum": 4, "maximum": 60},
        "paddingY": {"type": "integer", "minimum": 4, "maximum": 40},
        "position": {"enum": ["inline", "floating-right", "floating-left"]},
        "showOnCards": {"type": "boolean"},
    },
    ("/api/v1/plans", "post"): PLAN_BODY,
    ("/api/v1/plans/{plan_id}", "patch"): PLAN_BODY,
    ("/api/v1/customers", "post"): {
        "externalId": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
        "email": EMAIL_FIELD,
        "planId": PLAN_ID_FIELD,
        "metadata": METADATA,
    },
    ("/api/v1/customers/{customer_id}", "patch"): {
        "email": EMAIL_FIELD,
        "planId": PLAN_ID_FIELD,
        "status": {"enum": ["ACTIVE", "CANCELLED", "PAUSED"]},
        "metadata": METADATA,
        "resetPeriod": {"type": "boolean"},
    },
    # Any integer is taken and clamped to 60–3600 (SPEC §5): a range would refuse what the server takes.
    ("/api/v1/customers/{customer_id}/sessions", "post"): {"expires_in": {"type": "integer"}},
    ("/api/tryon/status", "post"): {"api_key": STATUS_KEY, "end_customer_token": STATUS_TOKEN},
    ("/api/v1/webhooks", "post"): {
        "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        "events": EVENTS_FIELD,
        "description": {"type": "string", "maxLength": 200},
        "secret": {"type": "string", "minLength": 24, "maxLength": 128},
    },
    ("/api/v1/webhooks/{endpoint_id}", "patch"): {
        "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        "events": EVENTS_FIELD,
        "description": {"type": "string", "maxLength": 200},
        "active": {"type": "boolean"},
    },
}
# Inputs the server bounds and the schema does not say so, left to the module that documents them.
KNOWN_GAPS: set[tuple[str, str, str]] = set()


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its `$ref` (and an `allOf` of one `$ref`, drf-spectacular's enum form) followed."""
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return {**document["components"]["schemas"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def parameters_of(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {parameter["name"]: parameter["schema"] for parameter in operation.get("parameters", [])}


def body_of(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if "requestBody" not in operation:
        return {}
    body = resolve(document, operation["requestBody"]["content"]["application/json"]["schema"])
    return {name: resolve(document, field) for name, field in body["properties"].items()}


def states(schema: dict[str, Any], bounds: dict[str, Any]) -> bool:
    """Whether `schema` holds each of `bounds` (an enum in any order)."""
    return all(
        sorted(schema.get(key, [])) == sorted(value) if key == "enum" else schema.get(key) == value
        for key, value in bounds.items()
    )


def is_bounded(schema: dict[str, Any], document: dict[str, Any]) -> bool:
    """Whether a client following `schema` can only send a value of a size the server takes."""
    if "enum" in schema or schema.get("type") == "boolean":
        return True
    if "oneOf" in schema or "anyOf" in schema:
        return all(is_bounded(option, document) for option in schema.get("oneOf", schema.get("anyOf")))
    pattern = schema.get("pattern", "")
    match schema.get("type"):
        case "string":
            anchored = pattern.startswith("^") and pattern.endswith("$") and "*" not in pattern and "+" not in pattern
            return "maxLength" in schema or anchored
        case "integer" | "number":
            return "minimum" in schema and "maximum" in schema
        case "object":
            return "maxProperties" in schema
        case "array":
            return "maxItems" in schema and is_bounded(resolve(document, schema.get("items", {})), document)
    return False


@pytest.mark.parametrize("where", ["parameters", "body"])
def test_schema_states_the_bounds_the_server_enforces(client: Client, where: str) -> None:
    document = load(client)
    expected = PARAMETER_BOUNDS if where == "parameters" else BODY_BOUNDS
    for (path, method), fields in expected.items():
        operation = document["paths"][path][method]
        stated = parameters_of(operation) if where == "parameters" else body_of(document, operation)
        assert set(stated) == set(fields), (path, method, "an input was added or removed: state its bounds here")
        for name, bounds in fields.items():
            assert states(stated[name], bounds), (path, method, name, stated[name])


def test_every_input_is_bounded(client: Client) -> None:
    """Every parameter and body field of every operation has a size or range a client can check
    before sending, except those the server takes whatever their size (expires_in: clamped)."""
    document = load(client)
    unbounded = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            inputs = {**parameters_of(operation), **body_of(document, operation)}
            unbounded |= {(path, method, name) for name, field in inputs.items() if not is_bounded(field, document)}
    assert unbounded - KNOWN_GAPS == {("/api/v1/customers/{customer_id}/sessions", "post", "expires_in")}


def past(bound: str, value: Any) -> tuple[Any, Any]:
    """A value at `bound` (its stated `value`) and the nearest one beyond it."""
    match bound:
        case "maxLength":
            return "a" * value, "a" * (value + 1)
        case "minimum":
            return value, value - 1
        case "maximum":
            return value, value + 1
        case "maxProperties":
            return {f"k{i}": i for i in range(value)}, {f"k{i}": i for i in range(value + 1)}
    raise AssertionError(bound)


BODY_AT_BOUNDS = [
    ("/api/v1/plans", "post", {"name": "Pro", "monthlyTryOns": 5}, "name", "maxLength"),
    ("/api/v1/plans", "post", {"name": "Pro", "monthlyTryOns": 5}, "monthlyTryOns", "minimum"),
    ("/api/v1/plans", "post", {"name": "Pro", "monthlyTryOns": 5}, "monthlyTryOns", "maximum"),
    ("/api/v1/plans", "post", {"name": "Pro", "monthlyTryOns": 5}, "externalPriceId", "maxLength"),
    ("/api/v1/plans/{plan_id}", "patch", {}, "name", "maxLength"),
    ("/api/v1/plans/{plan_id}", "patch", {}, "monthlyTryOns", "maximum"),
    ("/api/v1/customers", "post", {"externalId": "bounds"}, "externalId", "maxLength"),
    ("/api/v1/customers", "post", {"externalId": "bounds"}, "metadata", "maxProperties"),
    ("/api/v1/customers/{customer_id}", "patch", {}, "metadata", "maxProperties"),
    ("/api/v1/button-design", "post", {}, "label", "maxLength"),
    *(
        ("/api/v1/button-design", "post", {}, field, bound)
        for field in ("borderRadius", "fontSize", "paddingX", "paddingY")
        for bound in ("minimum", "maximum")
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method", "body", "field", "bound"), BODY_AT_BOUNDS)
def test_the_server_takes_a_body_at_each_bound_and_refuses_one_past_it(
    client: Client, api: V1, owner: Persona, path: str, method: str, body: dict[str, Any], field: str, bound: str
) -> None:
    """The bounds come from the schema, so a server limit changed without its schema fails here."""
    document = load(client)
    stated = body_of(document, document["paths"][path][method])[field]
    at, beyond = past(bound, stated[bound])
    url = path.removeprefix("/api/v1").format(plan_id=owner.plan.public_id, customer_id=owner.customer.public_id)
    send = api.post if method == "post" else api.patch
    accepted = send(url, {**body, field: at})
    assert accepted.status_code in {200, 201}, accepted.content
    refused = send(url, {**body, field: beyond})
    assert refused.status_code == 400, refused.content
    assert field in refused.json()["fieldErrors"]


@pytest.mark.django_db
def test_the_server_takes_a_page_size_at_each_bound_and_refuses_one_past_it(client: Client, api: V1) -> None:
    limit = parameters_of(load(client)["paths"]["/api/v1/customers"]["get"])["limit"]
    for value in (limit["minimum"], limit["maximum"]):
        assert api.get("/customers", limit=value).status_code == 200
    for value in (limit["minimum"] - 1, limit["maximum"] + 1):
        assert api.get("/customers", limit=value).json()["fieldErrors"] == {
            "limit": ["Must be an integer from 1 to 200."]
        }


@pytest.mark.django_db
def test_blank_text_is_refused_and_the_schema_says_so(client: Client, api: V1) -> None:
    document = load(client)
    pattern = body_of(document, document["paths"]["/api/v1/plans"]["post"])["name"]["pattern"]
    assert re.search(pattern, "  \t ") is None
    assert api.post("/plans", {"name": "  \t ", "monthlyTryOns": 5}).status_code == 400
    assert re.search(pattern, " Pro ")
    assert api.post("/plans", {"name": " Pro ", "monthlyTryOns": 5}).status_code == 201


@pytest.mark.django_db
def test_the_ids_the_server_hands_out_match_the_patterns_it_states(
    client: Client, api: V1, owner: Persona, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    EndCustomerFactory(store=owner.store)  # a second customer, so the first page has a next_cursor
    endpoint = api.post("/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["plan.created"]}).json()["id"]
    api.post("/plans", {"name": "One", "monthlyTryOns": 5})
    api.post("/plans", {"name": "Two", "monthlyTryOns": 5})  # two deliveries, so a next_cursor
    webhooks_dispatch(now=timezone.now())
    deliveries = api.get(f"/webhooks/{endpoint}/deliveries", limit=1).json()
    customers, webhooks = ("/api/v1/customers", "get"), ("/api/v1/webhooks/{endpoint_id}/deliveries", "get")
    sessions = ("/api/v1/customers/{customer_id}/sessions", "get")
    session_mint(customer=owner.customer)  # two sessions (with the jti's below), so a next_cursor
    issued = {
        (("/api/v1/plans/{plan_id}", "get"), "plan_id"): owner.plan.public_id,
        (("/api/v1/customers/{customer_id}", "get"), "customer_id"): owner.customer.public_id,
        (("/api/v1/customers/{customer_id}/sessions/{jti}", "delete"), "jti"): session_mint(
            customer=owner.customer
        ).jti,
        (customers, "cursor"): api.get("/customers", limit=1).json()["next_cursor"],
        (sessions, "cursor"): api.get(f"/customers/{owner.customer.public_id}/sessions", limit=1).json()["next_cursor"],
        (webhooks, "endpoint_id"): endpoint,
        (webhooks, "cursor"): deliveries["next_cursor"],
        (("/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}", "get"), "delivery_id"): deliveries["data"][0][
            "id"
        ],
    }
    for (operation, name), value in issued.items():
        schema_of = PARAMETER_BOUNDS[operation][name]
        assert value, (operation, name)
        if "pattern" in schema_of:
            assert re.search(schema_of["pattern"], value), (name, value)
        assert len(value) <= schema_of.get("maxLength", len(value)), name


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_honours_its_schema(case: Any, owner: Persona) -> None:
    """Generated requests with a real key: never a 5xx, and every answer is as documented."""
    with connection_kept():
        case.call_and_validate(
            headers={"Authorization": f"Bearer {owner.secret}"},
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        )
