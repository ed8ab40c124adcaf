"""Content tokens (``.vpptoken`` files) that any simulator on this machine accepts.

The file content is what Apple hands out: standard base64 of ``{"token", "expDate", "orgName"}``.
The inner ``token`` is ``<base64 JSON claims>.<base64 HMAC-SHA256>`` signed with a machine-wide key kept in a
file, so a simulator started later (another process, another test) can verify a token it has never seen and
rebuild its location from the claims alone.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

KEY_FILE_ENV = "VPP_SIMULATOR_KEY_FILE"
DEFAULT_KEY_FILE = Path("var") / "simulator.key"
APPLE_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def format_apple_date(value: datetime) -> str:
    """Format a datetime the way Apple does: UTC, no colon in the offset (``2030-11-08T22:33:22+0000``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_apple_date(value: str) -> datetime:
    """Parse ``2030-11-08T22:33:22+0000`` (also accepts ``Z`` and ``+00:00``)."""
    value = value.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+0000"
    return datetime.strptime(value.replace("+00:00", "+0000"), APPLE_DATE_FORMAT)


def key_file_path(key_file: str | os.PathLike[str] | None = None) -> Path:
    """The key file: the argument, else ``$VPP_SIMULATOR_KEY_FILE``, else ``var/simulator.key``."""
    if key_file:
        return Path(key_file)
    env = os.environ.get(KEY_FILE_ENV)
    if env:
        return Path(env)
    return Path.cwd() / DEFAULT_KEY_FILE


def load_key(key_file: str | os.PathLike[str] | None = None) -> bytes:
    """Read the machine-wide signing key, creating it (mode 0600) on first use."""
    path = key_file_path(key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must end up with the same key, so the loser re-reads.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    text = ""
    for _ in range(50):  # the creator may not have flushed yet
        text = path.read_text().strip()
        if text:
            break
    if not text:
        raise RuntimeError(f"empty simulator key file {path}")
    return text.encode()


def derive_uid(org_name: str, location_name: str) -> str:
    """A stable, long decimal ``uId``, so re-minting a token for a location reaches the same library."""
    digest = hashlib.sha256(f"{org_name}\n{location_name}".encode()).hexdigest()
    return str(10**17 + int(digest[:15], 16) % (9 * 10**17))


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says about its location."""

    uid: str
    org_name: str
    location_name: str
    country: str
    account_type: str
    exp_date: datetime
    nonce: str

    @property
    def expired(self) -> bool:
        """True once the expiry date has passed."""
        return datetime.now(UTC) > self.exp_date


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def mint_token(
    *,
    org_name: str,
    location_name: str,
    days: int = 365,
    country: str = "US",
    account_type: str = "business",
    uid: str | None = None,
    key: bytes | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> str:
    """Return the content of a ``.vpptoken`` file for a (new or existing) simulated location.

    ``days`` may be negative to mint an already-expired token. ``uid`` defaults to one derived from the
    org and location names, so minting twice for the same names renews the token of the same location.
    """
    if account_type not in ("business", "education"):
        raise ValueError("account_type must be 'business' or 'education'")
    key = key if key is not None else load_key(key_file)
    exp = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)
    claims = {
        "v": 1,
        "uid": uid or derive_uid(org_name, location_name),
        "org": org_name,
        "loc": location_name,
        "cc": country.upper(),
        "type": account_type,
        "exp": format_apple_date(exp),
        "nonce": secrets.token_hex(8),
    }
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    inner = f"{payload}.{_sign(key, payload)}"
    file_json = {"token": inner, "expDate": format_apple_date(exp), "orgName": org_name}
    return _b64(json.dumps(file_json).encode())


def inner_token(bearer: str) -> str | None:
    """Extract the inner ``token`` from a whole-file bearer; accept a bare inner token too."""
    bearer = bearer.strip()
    if "." in bearer:
        return bearer
    try:
        data = json.loads(base64.b64decode(bearer, validate=False))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("token"), str):
        return data["token"]
    return None


def verify_token(bearer: str, key: bytes) -> TokenClaims | None:
    """Return the claims of a token signed with ``key``, or None for garbage / foreign signatures."""
    inner = inner_token(bearer)
    if not inner or inner.count(".") != 1:
        return None
    payload, signature = inner.split(".")
    if not hmac.compare_digest(_sign(key, payload), signature):
        return None
    try:
        claims = json.loads(base64.b64decode(payload))
        return TokenClaims(
            uid=str(claims["uid"]),
            org_name=str(claims["org"]),
            location_name=str(claims["loc"]),
            country=str(claims.get("cc", "US")).upper(),
            account_type=str(claims.get("type", "business")),
            exp_date=parse_apple_date(claims["exp"]),
            nonce=str(claims.get("nonce", "")),
        )
    except (KeyError, ValueError, TypeError, binascii.Error):
        return None
