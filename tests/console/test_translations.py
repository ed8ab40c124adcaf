"""The Simplified Chinese catalogue: complete, not fuzzy, placeholders kept, the .mo matching the .po."""

from __future__ import annotations

import ast
import gettext
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import translation

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"

# %(name)s / %(size).1f / %s / %d, {name} / {0} / {}, and HTML tags; "%%" is a literal percent sign.
PLACEHOLDER = re.compile(
    r"%\([^)]+\)[-+ #0]*\d*(?:\.\d+)?[a-zA-Z]|%[-+ #0]*\d*(?:\.\d+)?[sdifr]|\{[\w.]*\}|</?[a-zA-Z][^>]*>"
)


@dataclass
class Entry:
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def key(self) -> str:
        return f"{self.msgctxt}\x04{self.msgid}" if self.msgctxt is not None else self.msgid


def parse_po(path: Path) -> list[Entry]:
    """A small .po reader: msgctxt, msgid, msgid_plural, msgstr, msgstr[n], continuation lines, flags.

    Other comments, obsolete entries (#~) and previous msgids (#|) are skipped.
    """
    entries: list[Entry] = []
    current: Entry | None = None
    has_msgid = False
    flags: set[str] = set()
    field_name, index = "", 0

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            assert current is not None, f"{path}:{number}: a string outside an entry"
            value = ast.literal_eval(line)
        else:
            keyword, _, rest = line.partition(" ")
            value = ast.literal_eval(rest.strip())
            if keyword in ("msgctxt", "msgid") and (current is None or has_msgid):
                current, has_msgid = Entry(flags=flags, line=number), False
                entries.append(current)
                flags = set()
            assert current is not None, f"{path}:{number}: {keyword} before msgid"
            field_name, index = keyword, 0
            if keyword.startswith("msgstr["):
                field_name, index = "msgstr", int(keyword[len("msgstr[") : -1])
            if field_name == "msgid":
                has_msgid = True
            if field_name == "msgstr":
                current.msgstr[index] = ""
            else:
                setattr(current, field_name, "")
        if field_name == "msgstr":
            current.msgstr[index] += value
        else:
            setattr(current, field_name, getattr(current, field_name) + value)
    return entries


ENTRIES = parse_po(PO)
HEADER = next(entry for entry in ENTRIES if entry.msgid == "" and entry.msgctxt is None)
MESSAGES = [entry for entry in ENTRIES if entry is not HEADER]


def _id(entry: Entry) -> str:
    return f"line {entry.line}: {entry.msgid[:60]}"


def placeholders(text: str) -> Counter:
    return Counter(PLACEHOLDER.findall(text.replace("%%", "")))


def test_the_catalogue_has_messages():
    assert len(MESSAGES) > 500


def test_header_is_simplified_chinese_utf8_with_one_plural_form():
    header = dict(line.split(": ", 1) for line in HEADER.msgstr[0].splitlines() if ": " in line)
    assert header["Language"] == "zh_Hans"
    assert "charset=UTF-8" in header["Content-Type"]
    assert header["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"
    assert "fuzzy" not in HEADER.flags


def test_every_message_is_translated_and_not_fuzzy():
    fuzzy = [_id(entry) for entry in MESSAGES if "fuzzy" in entry.flags]
    empty = [_id(entry) for entry in MESSAGES if not entry.msgstr.get(0, "").strip()]
    extra_forms = [
        _id(entry) for entry in MESSAGES if entry.msgid_plural is not None and set(entry.msgstr) != {0}
    ]
    assert not fuzzy, "fuzzy entries"
    assert not empty, "untranslated entries"
    assert not extra_forms, "Chinese has one plural form: msgstr[0] only"


def test_placeholders_are_preserved():
    broken = []
    for entry in MESSAGES:
        source = entry.msgid_plural if entry.msgid_plural is not None else entry.msgid
        for translated in entry.msgstr.values():
            if placeholders(translated) != placeholders(source):
                broken.append(f"{_id(entry)} -> {translated}")
    assert not broken


def test_yesno_arguments_keep_their_commas():
    for entry in MESSAGES:
        if entry.msgid.lower() == "yes,no":
            assert entry.msgstr[0].count(",") == 1


def test_the_committed_mo_is_the_compiled_po():
    """Compiling the .po gives the committed .mo's catalogue: run compilemessages after editing the .po."""
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    expected: dict = {}
    for entry in MESSAGES:
        if entry.msgid_plural is not None:
            for index, text in entry.msgstr.items():
                expected[(entry.key, index)] = text
        else:
            expected[entry.key] = entry.msgstr[0]
    compiled = {key: value for key, value in compiled.items() if key != ""}
    assert compiled == expected


def test_django_uses_the_catalogue():
    with translation.override("zh-hans"):
        assert translation.gettext("Home") == "主页"
        assert translation.gettext("Apple VPP tokens") == "Apple VPP 令牌"
        assert translation.ngettext("%(days)s day left", "%(days)s days left", 3) % {"days": 3} == "剩余 3 天"
    with translation.override("en"):
        assert translation.gettext("Home") == "Home"
