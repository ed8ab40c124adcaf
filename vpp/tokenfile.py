"""Reading a ``.vpptoken`` file (Apple's content token, the "sToken").

The file is Base64 (standard alphabet, padded) of a UTF-8 JSON object ``{"token", "expDate", "orgName"}``. The
*whole* Base64 text, stripped of surrounding whitespace, is what is sent to Apple as the bearer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from .types import parse_apple_datetime

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_TOKEN_FILE_BYTES",
    "TokenFile",
    "TokenFileBadExpiry",
    "TokenFileEmpty",
    "TokenFileError",
    "TokenFileMissingKeys",
    "TokenFileNotBase64",
    "TokenFileNotJson",
    "TokenFileNotObject",
    "TokenFileTooLarge",
    "json_depth",
    "parse_token_file",
]

MAX_TOKEN_FILE_BYTES = 64 * 1024
# A token's JSON is one flat object; anything nested deeper is not a token (and must never reach the parser's
# recursion limit: `[` × 40,000 would raise RecursionError).
MAX_JSON_DEPTH = 8
REQUIRED_KEYS = ("token", "expDate", "orgName")


class TokenFileError(ValueError):
    """The uploaded file is not a usable VPP token; ``str(exc)`` is a message fit for the administrator."""


class TokenFileEmpty(TokenFileError):
    def __init__(self) -> None:
        super().__init__(
            "The token file is empty. Download the token again from Apple Business or School Manager."
        )


class TokenFileTooLarge(TokenFileError):
    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(
            f"The token file is too large ({size} bytes; a VPP token is at most "
            f"{MAX_TOKEN_FILE_BYTES} bytes). Check that you chose the .vpptoken file."
        )


class TokenFileNotBase64(TokenFileError):
    def __init__(self) -> None:
        super().__init__(
            "The token file is not valid Base64 text. Upload the .vpptoken file exactly as downloaded from "
            "Apple Business or School Manager."
        )


class TokenFileNotJson(TokenFileError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"The token file does not decode to UTF-8 JSON ({reason}). It is not a VPP token.")


class TokenFileNotObject(TokenFileError):
    def __init__(self) -> None:
        super().__init__(
            "The token file's content is JSON but not an object with token, expDate and orgName."
        )


class TokenFileMissingKeys(TokenFileError):
    def __init__(self, missing: tuple[str, ...]) -> None:
        self.missing = missing
        names = ", ".join(missing)
        super().__init__(f"The token file is missing required value(s): {names}.")


class TokenFileBadExpiry(TokenFileError):
    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(
            f"The token file's expiry date (expDate) is not a valid date: {value!r}. "
            "Expected a form like 2030-11-08T22:33:22+0000."
        )


@dataclass(frozen=True, slots=True)
class TokenFile:
    """A parsed token file.

    ``content`` is the stripped Base64 text (the bearer, a secret); ``token`` the inner opaque token (a
    secret); ``sha256`` the hex digest of ``content`` (safe to store and show; detects duplicate uploads).
    """

    content: str
    token: str
    expires_at: datetime
    org_name: str
    sha256: str

    def is_expired(self, now: datetime | None = None) -> bool:
        """True once ``now`` (default: the current time) has reached ``expires_at``."""
        return (now or datetime.now(UTC)) >= self.expires_at

    def __repr__(self) -> str:  # never put the secret into logs or tracebacks
        return (
            f"TokenFile(org_name={self.org_name!r}, expires_at={self.expires_at!r}, sha256={self.sha256!r})"
        )


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON `text`, without parsing it (strings are skipped).

    Meant to run before ``json.loads`` so that hostile input cannot exhaust the parser's recursion; on text
    that is not JSON the answer is still a bound, and the parser reports the error.
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_token_file(data: bytes | str) -> TokenFile:
    """Validate and parse the content of a ``.vpptoken`` file.

    Raises a ``TokenFileError`` subclass naming what is wrong: ``TokenFileEmpty``, ``TokenFileTooLarge`` (> 64
    KiB), ``TokenFileNotBase64``, ``TokenFileNotJson`` (not UTF-8 or not JSON), ``TokenFileNotObject``,
    ``TokenFileMissingKeys`` (lists the missing or empty keys) or ``TokenFileBadExpiry``. JSON nested deeper
    than ``MAX_JSON_DEPTH`` is ``TokenFileNotJson`` (it is never handed to the parser).
    """
    raw = data.encode("utf-8", errors="replace") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise TokenFileTooLarge(len(raw))
    raw = raw.strip()
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM added by an editor
        raw = raw[3:].strip()
    if not raw:
        raise TokenFileEmpty()
    try:
        content = raw.decode("ascii")
        decoded = base64.b64decode(content, validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        raise TokenFileNotBase64() from None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenFileNotJson("not UTF-8") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise TokenFileNotJson(f"nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenFileNotJson(f"invalid JSON at character {exc.pos}") from None
    except RecursionError:  # pragma: no cover - json_depth above keeps the parser far from the limit
        raise TokenFileNotJson("nested too deeply") from None
    if not isinstance(payload, dict):
        raise TokenFileNotObject()
    missing = tuple(
        key for key in REQUIRED_KEYS if not isinstance(payload.get(key), str) or not payload[key].strip()
    )
    if missing:
        raise TokenFileMissingKeys(missing)
    try:
        expires_at = parse_apple_datetime(payload["expDate"])
    except ValueError:
        raise TokenFileBadExpiry(payload["expDate"]) from None
    assert expires_at is not None  # non-empty string checked above
    return TokenFile(
        content=content,
        token=payload["token"],
        expires_at=expires_at,
        org_name=payload["orgName"].strip(),
        sha256=hashlib.sha256(content.encode("ascii")).hexdigest(),
    )
