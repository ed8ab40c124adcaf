"""Data migrations to stored messages: texts written before messages were stored as codes become messages.

Used by the migrations that turned text columns into `console.messages` fields. Kept free of the catalogue
(migrations run whatever modules are loaded): the English sentences and codes are the migration's own copy.
A sentence is recognised in English and in every translation the console has (a target's problem used to be
stored in the requester's language); anything else stays as it was, shown verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.utils import translation

from console.messages import dumps, parse

APPLE_ERROR_TEXT = re.compile(r"Apple error (?P<number>\d+): (?P<message>.*)", re.S)
BATCH = 1000


def _apple(text: str) -> dict | None:
    match = APPLE_ERROR_TEXT.fullmatch(text)
    if match is None:
        return None
    return {"code": "apple.error", "params": {"number": int(match["number"]), "message": match["message"]}}


def _translations(sentences: dict[str, str]) -> dict[str, str]:
    """Each English sentence and its translations → its code."""
    known = dict(sentences)
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            known.update({translation.gettext(text): code for text, code in sentences.items()})
    return known


def _param(name: str, value: str) -> dict | str:
    if name in TERMS:  # a choice's label, said in the reader's language
        return {"code": "term", "params": {"text": value}}
    return _apple(value) or value


# Pattern groups that hold a translatable word rather than text.
TERMS = {"state", "intent", "kind"}
Pattern = tuple[re.Pattern[str], str]


def convert(text: str, known: dict[str, str], patterns: Iterable[Pattern] = ()) -> str | None:
    """The stored form of legacy `text` (a known sentence, a pattern's match whose named groups are the
    parameters, or Apple's "Apple error N: …"), or None when it is none of them."""
    if text in known:
        return dumps({"code": known[text]})
    for pattern, code in patterns:
        match = pattern.fullmatch(text)
        if match is not None:
            params = {k: _param(k, v) for k, v in match.groupdict().items()}
            return dumps({"code": code, "params": params})
    apple = _apple(text)
    return dumps(apple) if apple is not None else None


def convert_column(
    model,
    field: str,
    sentences: dict[str, str],
    patterns: Iterable[Pattern] = (),
    *,
    number_field: str | None = None,
    only: dict | None = None,
) -> int:
    """Convert `model.field` in place (of the rows matching `only`); with `number_field`, a bare text beside
    Apple's error number (a run's error) becomes Apple's text. Returns the rows changed."""
    known = _translations(sentences)
    patterns = list(patterns)
    rows = model.objects.filter(**(only or {})).exclude(**{field: ""})
    rows = rows.exclude(**{f"{field}__startswith": '{"code":'})
    changed = []
    names = ["pk", field] + ([number_field] if number_field else [])
    for row in rows.only(*names).iterator(chunk_size=BATCH):
        text = str(getattr(row, field))
        new = convert(text, known, patterns)
        number = getattr(row, number_field) if number_field else None
        if new is None and number is not None:
            new = dumps({"code": "apple.text", "params": {"number": number, "message": text}})
        if new is not None:
            setattr(row, field, new)
            changed.append(row)
    model.objects.bulk_update(changed, [field], batch_size=BATCH)
    return len(changed)


def render_column(model, field: str, *, only: dict | None = None) -> int:
    """Undo `convert_column`: stored messages become their English sentence again (the text an earlier version
    reads). Returns the rows changed."""
    rows = model.objects.filter(**(only or {})).filter(**{f"{field}__startswith": '{"code":'})
    changed = []
    with translation.override("en"):
        for row in rows.only("pk", field).iterator(chunk_size=BATCH):
            value = getattr(row, field)
            text = str(parse(value) if isinstance(value, str) else value)
            setattr(row, field, text)
            changed.append(row)
    model.objects.bulk_update(changed, [field], batch_size=BATCH)
    return len(changed)
