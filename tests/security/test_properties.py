"""Property tests (Hypothesis, fixed seed): token files and CSV import rows.

Whatever the input, only the documented validation errors escape (TokenFileError; ValidationError from an
import), and input that is refused changes nothing.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.models import AuditEntry
from directory import csv_import
from directory.models import Device, DirectoryUser, GroupMembership
from vpp.tokenfile import TokenFile, TokenFileError, parse_token_file

FAST = settings(max_examples=60, derandomize=True, deadline=None, database=None)
WITH_DB = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
token_like = st.fixed_dictionaries(
    {},
    optional={
        "token": st.text(max_size=30) | json_values,
        "expDate": st.sampled_from(["2030-11-08T22:33:22+0000", "not a date", "", "2030-02-30T00:00:00+0000"])
        | json_values,
        "orgName": st.text(max_size=30) | json_values,
    },
)


def _only_documented_errors(data) -> None:
    try:
        result = parse_token_file(data)
    except TokenFileError as exc:
        assert str(exc)  # a message for the administrator
    else:
        assert isinstance(result, TokenFile)


@FAST
@given(st.binary(max_size=2048))
def test_token_file_parsing_of_any_bytes_raises_only_token_file_errors(data):
    _only_documented_errors(data)


@FAST
@given(json_values | token_like, st.integers(min_value=0, max_value=50))
def test_token_file_parsing_of_any_json_raises_only_token_file_errors(value, depth):
    text = "[" * depth + json.dumps(value) + "]" * depth
    _only_documented_errors(base64.b64encode(text.encode()))
    _only_documented_errors(base64.b64encode(text.encode()).decode() + "\n")


cells = st.text(
    alphabet=st.sampled_from(list("ab@.c1 ,;\"'\n\r\x00\t=-é中")) | st.characters(codec="utf-8"), max_size=12
)
user_rows = st.lists(st.lists(cells, min_size=0, max_size=6), max_size=6)
headers = st.sampled_from(
    [
        "user_principal_name,display_name,email,managed_apple_id,is_active",
        "user_principal_name;display_name",
        "user_principal_name",
        "display_name,email",
        '"user_principal_name,display_name',
        "",
    ]
)


def _csv(header: str, rows: list[list[str]], delimiter: str) -> str:
    return header + "\n" + "\n".join(delimiter.join(row) for row in rows)


def _state() -> tuple:
    return (
        sorted(
            DirectoryUser.objects.values_list("user_principal_name", "display_name", "email", "is_active")
        ),
        Device.objects.count(),
        GroupMembership.objects.count(),
        AuditEntry.objects.count(),
    )


@pytest.mark.django_db
@WITH_DB
@given(header=headers, rows=user_rows, delimiter=st.sampled_from([",", ";"]), as_bytes=st.booleans())
def test_csv_import_of_any_rows_raises_only_validation_errors_and_refusal_changes_nothing(
    administrator, header, rows, delimiter, as_bytes
):
    content = _csv(header, rows, delimiter)
    data = content.encode() if as_bytes else content
    preview = csv_import.preview("users", data)  # never raises
    before = _state()
    try:
        result = csv_import.import_apply(kind="users", content=data, actor=administrator)
    except ValidationError as exc:
        assert exc.messages
        assert not preview.is_valid or _state() == before
        assert _state() == before
    else:
        assert preview.is_valid and result.is_valid
        for row in result.rows:
            assert "\x00" not in row.key


@pytest.mark.django_db
@WITH_DB
@given(data=st.binary(max_size=512))
def test_csv_import_of_any_bytes_raises_only_validation_errors(administrator, data):
    before = _state()
    for kind in ("users", "devices", "memberships"):
        csv_import.preview(kind, data)
        try:
            csv_import.import_apply(kind=kind, content=data, actor=administrator)
        except ValidationError:
            assert _state() == before
