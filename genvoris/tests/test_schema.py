"""The OpenAPI contract: the schema is valid, and the API honours it for generated requests."""

from typing import Any

import pytest
import schemathesis
import yaml
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import Persona, connection_kept

schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", get_wsgi_application())

PUBLISHED_PATHS = {
    "/api/tryon/track": {"post"},
    "/api/v1/plans": {"get", "post"},
    "/api/v1/plans/{plan_id}": {"get", "patch", "delete"},
    "/api/v1/customers": {"get", "post"},
    "/api/v1/customers/{customer_id}": {"get", "patch", "delete"},
    "/api/v1/customers/{customer_id}/usage": {"get"},
    "/api/v1/customers/{customer_id}/sessions": {"post"},
    "/api/v1/customers/{customer_id}/sessions/{jti}": {"delete"},
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
