"""Showing field values: labels, enum options, references and formatted values as HTML."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from rapport.crm.access import Masked
from rapport.crm.registry import (
    KIND_BOOLEAN,
    KIND_DATE,
    KIND_DATETIME,
    KIND_EMAIL,
    KIND_ENUM,
    KIND_INTEGER,
    KIND_JSON,
    KIND_MONEY,
    KIND_MULTI_ENUM,
    KIND_NUMBER,
    KIND_PHONE,
    KIND_REFERENCE,
    KIND_URL,
    OBJECTS,
    WORK_OBJECTS,
    FieldSpec,
)
from rapport.crm.service import RecordService
from rapport.errors import FieldError
from rapport.trust.actor import NOBODY, Actor
from rapport.web.formatting import Formatter

Gettext = Callable[[str], str]
_STAGE = re.compile(r"stage '(.+)'")
RefTitles = dict[tuple[str, int], str]


def humanise(value: str) -> str:
    """``decision_maker`` → ``Decision maker`` (the msgid enum options are translated by)."""
    text = value.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else text


def field_value(field: FieldSpec, values: Mapping[str, Any]) -> Any:
    if field.custom:
        return (values.get("custom") or {}).get(field.name)
    return values.get(field.name)


def input_name(field: FieldSpec) -> str:
    return f"custom.{field.name}" if field.custom else field.name


def reference_target(field: FieldSpec) -> str:
    """The object whose table holds the referenced records."""
    target = field.reference or ""
    return target if target in OBJECTS else "custom_records"


def collect_titles(
    session: Session,
    records: RecordService,
    fields: Iterable[FieldSpec],
    rows: Iterable[Mapping[str, Any]],
    actor: Actor,
) -> RefTitles:
    """Titles of every record the given rows point to, one query per target object."""
    wanted: dict[str, set[int]] = defaultdict(set)
    ref_fields = [f for f in fields if f.kind == KIND_REFERENCE and f.reference]
    for row in rows:
        for f in ref_fields:
            value = field_value(f, row)
            if isinstance(value, int):
                wanted[reference_target(f)].add(value)
    titles: RefTitles = {}
    for target, ids in wanted.items():
        for rid, record in records.get_many(session, target, list(ids), actor=actor).items():
            titles[(target, rid)] = str(record.values["title"])
    return titles


class Display:
    """Renders values for one request (locale, time zone, resolved reference titles)."""

    def __init__(self, fmt: Formatter, gettext: Gettext, titles: RefTitles | None = None,
                 actor: Actor = NOBODY) -> None:
        self.fmt = fmt
        self.gettext = gettext
        self.titles: RefTitles = titles or {}
        self.actor = actor  # whose access rules the page follows

    def error(self, err: FieldError) -> str:
        """A domain field error in the user's language (known codes; else the message)."""
        if err.code == "required_for_stage":
            match = _STAGE.search(err.message)
            if match:
                return self.gettext("required to enter stage “%(stage)s”") % {"stage": match[1]}
        if err.code == "missing":  # pydantic's wording for a required field left out
            return self.gettext("this field is required")
        return self.gettext(err.message)

    def label(self, field: FieldSpec) -> str:
        return field.label if field.custom else self.gettext(field.label)

    def option(self, value: Any) -> str:
        return self.gettext(humanise(str(value)))

    def text(self, field: FieldSpec, values: Mapping[str, Any]) -> str:
        """The value as plain text (no links)."""
        value = field_value(field, values)
        if value is None or value == "" or value == []:
            return ""
        if isinstance(value, Masked):
            return str(value)
        kind = field.kind
        if kind == KIND_MONEY:
            return self.fmt.money(value, values.get("currency") or None)
        if kind in (KIND_NUMBER, KIND_INTEGER) and field.name not in ("id", "version"):
            return self.fmt.number(value)
        if kind == KIND_DATE:
            return self.fmt.date(value)
        if kind == KIND_DATETIME:
            return self.fmt.datetime(value)
        if kind == KIND_PHONE:
            return self.fmt.phone(value)
        if kind == KIND_BOOLEAN:
            return self.gettext("Yes") if value else self.gettext("No")
        if kind == KIND_ENUM:
            return self.option(value)
        if kind == KIND_MULTI_ENUM and isinstance(value, list):
            return ", ".join(self.option(v) for v in value)
        if kind == KIND_JSON and isinstance(value, list):
            return ", ".join(str(v) for v in value)
        if kind == KIND_REFERENCE and isinstance(value, int):
            return self.titles.get((reference_target(field), value), f"#{value}")
        return str(value)

    def html(self, field: FieldSpec, values: Mapping[str, Any]) -> Markup:
        """The value as HTML: references, emails, phones and URLs become links."""
        value = field_value(field, values)
        if isinstance(value, Masked):
            return escape(value)
        text = self.text(field, values)
        if not text:
            return Markup('<span class="muted">—</span>')
        if field.kind == KIND_REFERENCE and isinstance(value, int):
            target = field.reference or ""
            if target in WORK_OBJECTS:
                return Markup('<a href="/{}/{}">{}</a>').format(target, value, text)
            return escape(text)
        if field.kind == KIND_EMAIL:
            return Markup('<a href="mailto:{}">{}</a>').format(value, text)
        if field.kind == KIND_PHONE:
            return Markup('<a href="tel:{}">{}</a>').format(value, text)
        if field.kind == KIND_URL and str(value).startswith(("http://", "https://")):
            return Markup('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>').format(
                value, text
            )
        if field.kind == KIND_ENUM:
            return Markup('<span class="pill pill-{}">{}</span>').format(value, text)
        return escape(text)
