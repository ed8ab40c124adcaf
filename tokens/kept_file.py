"""A token file kept across the token form's validation errors.

A browser cannot be handed a chosen file back. When the form comes back with errors in other fields, the
uploaded token file is kept in the signed-in user's session, encrypted with FIELD_ENCRYPTION_KEY (it is a
secret: the session store only ever holds ciphertext), for KEEP_SECONDS. The page shows its file name and a
key in a hidden field, never its content; the next submission without a new file uses the kept one. One file
is kept per session; a success, a new file or an error about the file itself drops it.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass

from console import crypto

SESSION_KEY = "tokens.kept_file"
KEEP_SECONDS = 15 * 60
NAME_LENGTH = 120


@dataclass(frozen=True)
class KeptFile:
    key: str  # a random handle for the hidden field: the form that kept the file is the one that uses it
    name: str


def keep(session, *, data: bytes, name: str) -> KeptFile:
    """Keep `data` (the uploaded token file) encrypted in `session`; returns what the page may show."""
    kept = KeptFile(key=secrets.token_urlsafe(16), name=name[:NAME_LENGTH])
    session[SESSION_KEY] = {
        "key": kept.key,
        "name": kept.name,
        "at": time.time(),
        "data": crypto.encrypt(base64.b64encode(data).decode("ascii")),
    }
    return kept


def find(session, key: str) -> KeptFile | None:
    """The file kept under `key`, if it is this session's and still fresh."""
    entry = session.get(SESSION_KEY)
    if not key or not isinstance(entry, dict) or not secrets.compare_digest(str(entry.get("key")), key):
        return None
    if time.time() - float(entry.get("at", 0)) > KEEP_SECONDS:
        forget(session)
        return None
    return KeptFile(key=entry["key"], name=entry["name"])


def content(session, kept: KeptFile) -> bytes:
    """The bytes of the kept file (`find` found it)."""
    return base64.b64decode(crypto.decrypt(session[SESSION_KEY]["data"]))


def forget(session) -> None:
    session.pop(SESSION_KEY, None)
