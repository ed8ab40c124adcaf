"""Country and region names for Apple's store codes, in the reader's language, from Babel's CLDR data.

CLDR is the maintained source (Unicode's locale data, shipped with Babel); the console keeps only the list of
codes Apple accepts (tokens.services.COUNTRY_CODES).
"""

from __future__ import annotations

from babel import Locale, UnknownLocaleError
from django.utils.translation import get_language, to_locale

from tokens.services import COUNTRY_CODES


def _locale() -> Locale:
    try:
        return Locale.parse(to_locale(get_language() or "en"))
    except (UnknownLocaleError, ValueError):
        return Locale("en")


def country_name(code: str) -> str:
    """The country or region called `code` (e.g. "US") in the active language; the code if CLDR lacks it."""
    if not code:
        return ""
    return _locale().territories.get(code.upper(), code)


def country_choices() -> list[tuple[str, str]]:
    """(code, "Name (CODE)") for every code Apple accepts, sorted by name in the active language."""
    names = _locale().territories
    choices = [(code, f"{names.get(code, code)} ({code})") for code in COUNTRY_CODES]
    return sorted(choices, key=lambda choice: choice[1].casefold())
