"""Stored messages: a code and its parameters, rendered in the reader's language when they are shown.

A license's error, a run's error or warning, a token's state detail are written by workers (in no one's
language) and read by people in theirs. So they are stored as a `Message`: a code from this catalogue and its
parameters, as JSON (`{"code": ..., "params": {...}}`) in the existing text column (`MessageField`). `str()`
renders the sentence in the active language: templates show `{{ license.error }}` and the API's string field
says it in the request's language (Accept-Language). Text that is no message of the catalogue (Apple's own
words, rows written before this) is kept and shown verbatim.

Apple's errors are `apple_error(number, message)`: the sentence is translated for the error numbers listed in
`APPLE_ERRORS`, Apple's English text is shown for the others.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.db import models
from django.db.models.expressions import Combinable
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from vpp.errors import AppleError

# code → English sentence (a msgid of the translation catalogue) with %(name)s parameters.
CATALOGUE: dict[str, str] = {}
_PREFIX = '{"code":'


class Message:
    """A catalogue code with its parameters (strings, numbers or other Messages); `str()` renders it."""

    __slots__ = ("code", "params")

    def __init__(self, code: str, params: dict[str, Any] | None = None) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"unknown message code {code!r}")
        self.code = code
        self.params = dict(params or {})

    def __call__(self, **params: Any) -> Message:
        """This message with parameters: `NOT_DELIVERED(status="Error")`."""
        return Message(self.code, {**self.params, **params})

    def __str__(self) -> str:
        rendered = {k: str(v) if isinstance(v, Message) else v for k, v in self.params.items()}
        if self.code == APPLE_ERROR_CODE:
            return _apple_sentence(rendered)
        if self.code == APPLE_TEXT_CODE:
            return _apple_text(rendered)
        if self.code == TERM_CODE:
            return gettext(str(rendered.get("text", "")))
        text = gettext(CATALOGUE[self.code])
        try:
            return text % rendered if rendered else text
        except (
            KeyError,
            TypeError,
            ValueError,
        ):  # parameters lost to a column's limit: the sentence as it is
            return text

    def __repr__(self) -> str:
        return f"Message({self.code!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.code, self.params) == (other.code, other.params)

    def __hash__(self) -> int:
        return hash(self.serialize())

    def __bool__(self) -> bool:
        return True

    def as_json(self) -> dict[str, Any]:
        params = {k: v.as_json() if isinstance(v, Message) else v for k, v in self.params.items()}
        return {"code": self.code, "params": params} if params else {"code": self.code}

    def serialize(self, limit: int | None = None) -> str:
        """The stored form; with `limit`, the longest text parameters are shortened (ending in "…") until it
        fits, so the column never refuses a message and what is stored still parses."""
        data = self.as_json()
        text = dumps(data)
        while limit is not None and len(text) > limit:
            leaf = _longest_text(data)
            if leaf is None:
                return dumps({"code": self.code})[:limit]
            params, key = leaf
            value = params[key]
            # Cut in characters what is too long in JSON (quotes and backslashes take two), plus the "…".
            encoded = len(json.dumps(value, ensure_ascii=False)) - 2
            keep = len(value) - math.ceil((len(text) - limit) * len(value) / encoded) - 1
            params[key] = value[:keep] + "…" if keep > 0 else ""
            text = dumps(data)
        return text


def _longest_text(data: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """(the params dict, the key) of the longest non-empty text parameter, nested messages included."""
    best: tuple[dict[str, Any], str] | None = None
    params = data.get("params") or {}
    for key, value in params.items():
        if isinstance(value, dict):
            found = _longest_text(value)
        else:
            found = (params, key) if isinstance(value, str) and value else None
        if found is not None and (best is None or len(found[0][found[1]]) > len(best[0][best[1]])):
            best = found
    return best


def dumps(data: dict[str, Any]) -> str:
    """The stored JSON of `Message.as_json()`: one spelling, so equal messages compare equal in SQL."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def define(code: str, text: str) -> Message:
    """Add `code` with its English sentence (wrap it in gettext_noop so makemessages finds it)."""
    if CATALOGUE.get(code, text) != text:
        raise ValueError(f"message code {code!r} defined twice")
    CATALOGUE[code] = text
    return Message(code)


def parse(stored: str) -> Message | str:
    """A stored value back as a Message, or the text itself when it is no message of the catalogue."""
    if not stored.startswith(_PREFIX):
        return stored
    try:
        return _from_json(json.loads(stored))
    except (ValueError, KeyError, TypeError, AttributeError):
        return stored


def from_json(data: Any) -> Message | None:
    """A Message from its JSON form (`Message.as_json`, e.g. in an audit entry), or None."""
    try:
        return _from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _from_json(data: dict[str, Any]) -> Message:
    params = {
        k: _from_json(v) if isinstance(v, dict) and "code" in v else v
        for k, v in (data.get("params") or {}).items()
    }
    return Message(data["code"], params)


def render(value: Message | str | None) -> str:
    """What a reader sees: the message in the active language, or stored text verbatim."""
    return "" if value is None else str(value)


# --- terms: a word of the translation catalogue (a choice's label, a model's name) -------------------------

TERM_CODE = "term"
define(TERM_CODE, "%(text)s")


def term(label: Any) -> Message:
    """A translatable word (a `gettext_lazy` label such as a choice's or a model's verbose name) kept as its
    msgid, said in the reader's language."""
    with translation.override(None):
        msgid = str(label)
    return Message(TERM_CODE, {"text": msgid})


# --- Apple's errors ---------------------------------------------------------------------------------------

APPLE_ERROR_CODE = "apple.error"
APPLE_ERROR = define(APPLE_ERROR_CODE, gettext_noop("Apple error %(number)s: %(message)s"))
# Apple's error numbers that the console says in the reader's language (apple-vpp-api.md, error codes).
APPLE_ERRORS: dict[int, str] = {
    9601: gettext_noop("Sign-in required."),
    9609: gettext_noop("Apple does not know this user."),
    9610: gettext_noop("License not found."),
    9621: gettext_noop("The token has expired; download a new one from Apple Business Manager."),
    9622: gettext_noop("The token is not valid."),
    9625: gettext_noop("The token was revoked; download a new one from Apple Business Manager."),
    9635: gettext_noop("This Apple Account cannot be associated with this user."),
    9641: gettext_noop("This Apple Account is already associated with another user."),
    9644: gettext_noop("Apple's service is in maintenance."),
    9646: gettext_noop("Too many requests; Apple asks to wait."),
    9706: gettext_noop("This app's licenses cannot be revoked."),
    9707: gettext_noop("This app cannot be assigned to devices."),
    9708: gettext_noop("Apple no longer knows this request."),
    9709: gettext_noop("There are not enough licenses available."),
    9716: gettext_noop("An active user with this id already exists at Apple."),
}


def apple_error(number: int | None, message: str) -> Message | str:
    """Apple's error `number` with Apple's English `message` (shown when the number is not translated);
    without a number, Apple's text as it came."""
    if number is None:
        return message
    return APPLE_ERROR(number=number, message=message)


def apple_exception(exc: AppleError) -> Message | str:
    """An AppleError as a stored message (Apple's number and text; transport errors as they came)."""
    if exc.number is None:
        return str(exc)
    return apple_error(exc.number, exc.message)


# Apple's text alone, for rows that keep Apple's error number in a column of their own (a run's error).
APPLE_TEXT_CODE = "apple.text"
APPLE_TEXT = define(APPLE_TEXT_CODE, "%(message)s")


def apple_text(exc: AppleError) -> Message | str:
    """What Apple said, without its number (shown beside it): translated where `APPLE_ERRORS` knows it."""
    if exc.number is None:
        return exc.message or str(exc)
    return APPLE_TEXT(number=exc.number, message=exc.message)


def _apple_text(params: dict[str, Any]) -> str:
    number = params.get("number")
    known = APPLE_ERRORS.get(number) if isinstance(number, int) else None
    return gettext(known) if known else str(params.get("message", ""))


def _apple_sentence(params: dict[str, Any]) -> str:
    message = _apple_text(params)
    return gettext(CATALOGUE[APPLE_ERROR_CODE]) % {"number": params.get("number"), "message": message}


# --- the console's own (runs) ---------------------------------------------------------------------------

CANNOT_RUN = define("run.cannot_run", gettext_noop("This kind of run cannot be run by a worker."))
LOST = define("run.lost", gettext_noop("The worker running this stopped before it finished."))
LOST_RESTARTED = define(
    "run.lost_restarted",
    gettext_noop("The worker running this stopped before it finished; it was started again as run #%(id)s."),
)


# --- the model field --------------------------------------------------------------------------------------


class MessageFieldMixin:
    """A text column holding a Message as JSON or plain text; reads back a Message or the text."""

    max_length: int | None

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return parse(value)

    def to_python(self, value):
        if isinstance(value, Message) or value is None:
            return value
        return parse(str(value))

    def get_prep_value(self, value):
        if isinstance(value, Message):
            return value.serialize(self.max_length)
        if isinstance(value, str):  # stored as it is (CharField's would parse it into a Message again)
            return value[: self.max_length] if self.max_length else value
        return super().get_prep_value(value)


class MessageField(MessageFieldMixin, models.CharField):
    """A CharField holding a stored message (see the module docstring)."""

    # What django-stubs lets code assign and read: a Message, or text kept as it is.
    _pyi_private_set_type: Message | str | Combinable  # type: ignore[assignment]
    _pyi_private_get_type: Message | str  # type: ignore[assignment]


class MessageTextField(MessageFieldMixin, models.TextField):
    """A TextField holding a stored message (see the module docstring)."""

    # What django-stubs lets code assign and read: a Message, or text kept as it is.
    _pyi_private_set_type: Message | str | Combinable  # type: ignore[assignment]
    _pyi_private_get_type: Message | str  # type: ignore[assignment]
