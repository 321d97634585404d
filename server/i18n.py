"""gettext for Lianxin. Message ids are the Simplified Chinese text; `en` has a catalog.

The current language lives in a context variable set per request by the locale middleware,
so templates and Python code translate the same way without passing a locale around.
"""

from __future__ import annotations

import gettext as stdlib_gettext
import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES: dict[str, str] = {"zh_Hans": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_Hans"

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> stdlib_gettext.NullTranslations:
    """Compile the .po catalog in memory: no build step, and .mo files cannot go stale."""
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return stdlib_gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return stdlib_gettext.GNUTranslations(buffer)


def gettext(message: str) -> str:
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


def negotiate(accept_language: str, default: str = DEFAULT_LANGUAGE) -> str:
    """The first language of the header we have, by its primary subtag.

    Only the primary subtag is looked at: tags no locale database knows (`xx`,
    `i-default`, `x-klingon`, 300 characters of junk) are simply not ours.
    """
    for part in accept_language.split(",")[:50]:
        tag = part.split(";")[0].strip()
        primary = tag.replace("_", "-").split("-")[0].lower()
        if primary == "zh":
            return "zh_Hans"
        if primary == "en":
            return "en"
    return default


def html_lang(language: str) -> str:
    return "zh-Hans" if language == "zh_Hans" else language
