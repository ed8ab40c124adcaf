"""Schemathesis over every operation of the API schema, as an administrator, with every check: no server
errors, responses match the schema (status codes, bodies, content types), every request the schema forbids is
refused (an invalid filter value answers 400, never a silently unfiltered list) and every request it allows is
accepted. Fixed seed, a few examples per operation."""

from __future__ import annotations

import json

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from config.wsgi import application


def _schema_dict() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


# A request the schema allows can still be refused with a documented 400 where no schema can tell: it names
# an object by id that does not exist (a group, a primary user; the message names the id, product.md §4), a
# name another object already has, or a file whose contents are checked (a token file, a CSV import). Only
# these operations may answer 400 to schema-valid data; everywhere else a 400 for it is a schema that lies.
STATE_OR_FILE_DEPENDENT = [  # operation names: "METHOD path"
    r"POST /api/v1/apps/\{[^}]+\}/assignments/",  # group id
    r"(PATCH|PUT) /api/v1/assignments/\{[^}]+\}/",  # group id
    r"(GET|POST) /api/v1/(users|devices)/",  # the `group` filter; `primary_user` and `groups` ids
    r"(PATCH|PUT) /api/v1/(users|devices)/\{[^}]+\}/",  # `primary_user` and `groups` ids
    r"(POST|DELETE) /api/v1/groups/\{[^}]+\}/members/.*",  # user and device ids, a CSV file
    r"(POST|PUT|PATCH) /api/v1/groups/(\{[^}]+\}/)?",  # a name another group already has
    r"POST /api/v1/(users|devices)/import/",  # a CSV file
    r"POST /api/v1/directory-import/",  # a CSV file (or the confirmation of a preview)
    r"POST /api/v1/vpp-tokens/(\{[^}]+\}/renew/)?",  # a token file
]
# The fuzzing phase only (examples, coverage and stateful phases off), with a fixed seed: a bounded run.
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261201,
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
        },
        "operations": [
            {
                "include-name-regex": f"^{name}$",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
                    }
                },
            }
            for name in STATE_OR_FILE_DEPENDENT
        ],
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
    case.call_and_validate(headers=admin_headers)
