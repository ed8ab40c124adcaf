"""Schemathesis over every operation of the API schema, as an administrator: no server errors, responses
match the schema (status codes, bodies, content types). Fixed seed, a few examples per operation."""

from __future__ import annotations

import json

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from config.wsgi import application


def _schema_dict() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


# The fuzzing phase only (examples, coverage and stateful phases off), with a fixed seed: a bounded run.
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261201,
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_dict(_schema_dict(), config=CONFIG)
schema.app = application


@pytest.fixture
def wsgi_in_test_transaction():
    """Requests go straight to the WSGI app: keep Django from closing the test's database connection at the
    start and end of each request (what django.test.Client does too)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_headers(administrator, wsgi_in_test_transaction):
    from tests.conftest import api_key_for

    return {"Authorization": f"Token {api_key_for(administrator)}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=5, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
def test_api_operations_conform_to_the_schema(case, admin_headers):
    # Every check but two. positive_data_acceptance: a body valid by the schema can still be refused (a
    # duplicate name, an unknown group, a file that is not a token) with a documented 400.
    # negative_data_rejection: filters ignore some invalid values (`?custom=12`, `?group_type=`) instead of
    # refusing them; that is lenient, not broken, and is left as it is.
    case.call_and_validate(
        headers=admin_headers,
        excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection],
    )
