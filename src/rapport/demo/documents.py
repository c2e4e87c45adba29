"""Full-text documents for bulk loads: the same text as ``rapport.crm.search.document_text``.

The service builds one document per write, so it can afford a regular expression per CJK
character and a full phone-number parse per phone. A bulk load builds millions, so this
module does the same with ``str.translate`` and a country-code table. The demo tests check
that both give identical text for every generated record.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from rapport.crm.registry import KIND_PHONE, ObjectSpec

# The code point ranges ``rapport.crm.search`` indexes one character at a time.
CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x3040, 0x30FF),
              (0xAC00, 0xD7AF))
_SPACED = {cp: f" {chr(cp)} " for low, high in CJK_RANGES for cp in range(low, high + 1)}
_COUNTRY_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)


def spaced_cjk(value: str) -> str:
    return value if value.isascii() else value.translate(_SPACED)


@cache
def _country_code(digits_prefix: str) -> int:
    for size in (1, 2, 3):
        if digits_prefix[:size] in _COUNTRY_CODES:
            return size
    raise ValueError(f"no country code starts {digits_prefix}")


def phone_variants(e164: str) -> list[str]:
    """Digits with and without the country code (as ``phone_search_variants``)."""
    digits = e164.lstrip("+")
    rest = digits[_country_code(digits[:3]):]
    return [digits, str(int(rest))]


_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {}


def _fields(spec: ObjectSpec) -> tuple[tuple[str, bool], ...]:
    found = _FIELDS.get(spec.name)
    if found is None:
        found = tuple((f.name, f.kind == KIND_PHONE) for f in spec.fields.values() if f.searchable)
        _FIELDS[spec.name] = found
    return found


def document_text(spec: ObjectSpec, values: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for name, is_phone in _fields(spec):
        value = values.get(name)
        if not value:
            continue
        text_value = str(value)
        parts.append(text_value)
        if is_phone:
            parts.extend(phone_variants(text_value))
    first, last = values.get("first_name"), values.get("last_name")
    if first and last:
        parts.append(f"{last}{first}")
    for key, value in (values.get("custom") or {}).items():
        if isinstance(value, str) and not key.startswith("_"):
            parts.append(value)
    return spaced_cjk(" ".join(parts))[:20_000]
