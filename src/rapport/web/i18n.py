"""Translations for the web UI: gettext catalogs (``.po``) read at startup with Babel.

No compile step: each ``locale/<lang>/LC_MESSAGES/messages.po`` is parsed with
``read_po`` and turned into an in-memory ``.mo`` that ``babel.support.Translations`` reads.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from babel.core import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES: tuple[str, ...] = ("en", "zh_CN")
LOCALE_NAMES = {"en": "English", "zh_CN": "简体中文"}
DEFAULT_LOCALE = "en"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark a string for extraction; it is translated when rendered."""
    return message


def load_translations(locale: str) -> Translations:
    """Read ``messages.po`` for ``locale`` (missing catalog: untranslated English)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return Translations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def normalise_locale(value: str | None) -> str:
    """Map ``zh``, ``zh-CN``, ``zh_Hans`` ... to a supported locale; fall back to English."""
    if not value:
        return DEFAULT_LOCALE
    lowered = value.replace("-", "_").lower()
    if lowered.startswith("zh"):
        return "zh_CN"
    if lowered.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def from_accept_language(header: str | None) -> str | None:
    """The first supported language of an ``Accept-Language`` header, if any."""
    for part in (header or "").split(","):
        tag = part.split(";")[0].strip()
        if tag.lower().startswith(("zh", "en")):
            return normalise_locale(tag)
    return None


def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)
