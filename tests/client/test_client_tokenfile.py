"""Reading .vpptoken files: every way the file can be wrong gets its own clear message (T1; docs/rules.md,
Bad input and faults)."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from vpp.tokenfile import (
    MAX_TOKEN_FILE_BYTES,
    TokenFileBadExpiry,
    TokenFileEmpty,
    TokenFileError,
    TokenFileMissingKeys,
    TokenFileNotBase64,
    TokenFileNotJson,
    TokenFileNotObject,
    TokenFileTooLarge,
    parse_token_file,
)


def encode(payload) -> bytes:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(raw)


GOOD = {"token": "VFdwQmVVMVRRWF9zZWNyZXQ=", "expDate": "2030-11-08T22:33:22+0000", "orgName": "ORG12345"}


def test_t1_valid_file_is_parsed():
    data = encode(GOOD)
    parsed = parse_token_file(data)
    assert parsed.content == data.decode()
    assert parsed.token == GOOD["token"]
    assert parsed.org_name == "ORG12345"
    assert parsed.expires_at == datetime(2030, 11, 8, 22, 33, 22, tzinfo=UTC)
    assert parsed.sha256 == hashlib.sha256(data).hexdigest()


def test_t1_surrounding_whitespace_and_str_input_are_accepted():
    data = encode(GOOD).decode()
    parsed = parse_token_file(f"  \n{data}\r\n")
    assert parsed.content == data


def test_t1_key_order_and_extra_keys_do_not_matter():
    payload = {"expDate": GOOD["expDate"], "extra": 1, "orgName": "O", "token": "t"}
    assert parse_token_file(encode(payload)).org_name == "O"


@pytest.mark.parametrize(
    "exp",
    [
        "2030-11-08T22:33:22+0000",
        "2030-11-08T22:33:22Z",
        "2030-11-08T22:33:22+00:00",
        "2030-11-08T15:33:22-0700",
    ],
)
def test_t5_expiry_accepts_apple_offsets(exp):
    parsed = parse_token_file(encode({**GOOD, "expDate": exp}))
    assert parsed.expires_at == datetime(2030, 11, 8, 22, 33, 22, tzinfo=UTC)
    assert parsed.expires_at.tzinfo is not None


def test_t5_is_expired():
    parsed = parse_token_file(encode(GOOD))
    assert not parsed.is_expired(datetime(2030, 11, 8, 22, 33, 21, tzinfo=UTC))
    assert parsed.is_expired(datetime(2030, 11, 8, 22, 33, 22, tzinfo=UTC))
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
    assert parse_token_file(encode({**GOOD, "expDate": past})).is_expired()


def test_repr_does_not_leak_the_token():
    parsed = parse_token_file(encode(GOOD))
    assert GOOD["token"] not in repr(parsed)
    assert parsed.content not in repr(parsed)


@pytest.mark.parametrize("data", [b"", b"   \n", ""])
def test_empty_file(data):
    with pytest.raises(TokenFileEmpty, match="empty"):
        parse_token_file(data)


def test_too_large_file():
    with pytest.raises(TokenFileTooLarge, match="too large"):
        parse_token_file(b"A" * (MAX_TOKEN_FILE_BYTES + 1))


@pytest.mark.parametrize("data", [b"not base64 at all!", b"abc", "é1234==".encode(), b"\xff\xfe\x00"])
def test_not_base64(data):
    with pytest.raises(TokenFileNotBase64, match="Base64"):
        parse_token_file(data)


def test_not_utf8():
    with pytest.raises(TokenFileNotJson, match="UTF-8"):
        parse_token_file(encode(b"\xff\xfe\xfa{}"))


def test_not_json():
    with pytest.raises(TokenFileNotJson, match="JSON"):
        parse_token_file(encode(b"token=abc"))


@pytest.mark.parametrize("payload", [[1, 2], "a string", 42, None])
def test_json_not_an_object(payload):
    with pytest.raises(TokenFileNotObject):
        parse_token_file(encode(payload))


def test_missing_keys_are_named():
    with pytest.raises(TokenFileMissingKeys) as excinfo:
        parse_token_file(encode({"token": "x"}))
    assert excinfo.value.missing == ("expDate", "orgName")
    assert "expDate" in str(excinfo.value)
    assert "orgName" in str(excinfo.value)


def test_empty_or_non_string_values_count_as_missing():
    with pytest.raises(TokenFileMissingKeys) as excinfo:
        parse_token_file(encode({**GOOD, "token": "", "orgName": 5}))
    assert excinfo.value.missing == ("token", "orgName")


@pytest.mark.parametrize("exp", ["tomorrow", "2030-11-08", "2030-11-08T22:33:22", "2030-13-08T22:33:22+0000"])
def test_bad_expiry(exp):
    with pytest.raises(TokenFileBadExpiry, match="expDate"):
        parse_token_file(encode({**GOOD, "expDate": exp}))


def test_all_errors_share_a_base_class_usable_as_value_error():
    with pytest.raises(ValueError):
        parse_token_file(b"")
    assert issubclass(TokenFileBadExpiry, TokenFileError)
