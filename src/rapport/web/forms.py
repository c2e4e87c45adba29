"""Forms generated from the registry: widgets per field kind, form data → service input.

Enums become selects, references a select of records (with a search box when there are
many), dates date inputs, date-times ``datetime-local`` inputs in the user's time zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import (
    KIND_BOOLEAN,
    KIND_CURRENCY,
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
    FieldSpec,
    ObjectSpec,
)
from rapport.crm.service import RecordService
from rapport.errors import FieldError
from rapport.trust.actor import Actor
from rapport.web.display import Display, field_value, input_name
from rapport.web.formatting import Formatter
from rapport.web.i18n import N_

REFERENCE_SELECT_LIMIT = 100
COMMON_CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP", "SGD", "KRW", "TWD", "AUD")


@dataclass
class FormField:
    """One input as the templates render it."""

    spec: FieldSpec
    name: str
    label: str
    widget: str
    value: Any
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    search_url: str | None = None


def editable_fields(spec: ObjectSpec, custom: Mapping[str, FieldSpec]) -> list[FieldSpec]:
    return [*spec.writable_fields(), *custom.values()]


def raw_value(spec: FieldSpec, value: Any, fmt: Formatter) -> Any:
    """The value as an input shows it (and as a submitted form would send it back)."""
    if value is None:
        return [] if spec.kind == KIND_MULTI_ENUM else ""
    if spec.kind == KIND_DATETIME:
        return fmt.local_input(value)
    if spec.kind == KIND_DATE:
        return value.isoformat() if isinstance(value, date) else str(value)[:10]
    if spec.kind == KIND_BOOLEAN:
        return "true" if value else "false"
    if spec.kind == KIND_MULTI_ENUM:
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if spec.kind == KIND_JSON and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def widget_for(spec: FieldSpec) -> str:
    kind = spec.kind
    if kind in (KIND_ENUM, KIND_BOOLEAN, KIND_CURRENCY):
        return "select"
    if kind == KIND_MULTI_ENUM:
        return "multiselect"
    if kind == KIND_REFERENCE:
        return "reference"
    if kind == KIND_DATE:
        return "date"
    if kind == KIND_DATETIME:
        return "datetime-local"
    if kind in (KIND_MONEY, KIND_NUMBER, KIND_INTEGER):
        return "number"
    if kind == KIND_EMAIL:
        return "email"
    if kind == KIND_PHONE:
        return "tel"
    if kind == KIND_URL:
        return "url"
    if kind == KIND_JSON:
        return "text"
    if spec.max_length is None or spec.max_length >= 1000:
        return "textarea"
    return "text"


class ReferenceOptions:
    """Record choices for reference fields, loaded once per target per request."""

    def __init__(self, session: Session, records: RecordService, actor: Actor) -> None:
        self.actor = actor
        self.session = session
        self.records = records
        self._cache: dict[str, tuple[list[tuple[str, str]], bool]] = {}

    def choices(self, target: str) -> tuple[list[tuple[str, str]], bool]:
        """(value, label) pairs and whether there are more than fit in a select."""
        if target in self._cache:
            return self._cache[target]
        spec = OBJECTS.get(target)
        if spec is None:
            self._cache[target] = ([], True)
            return self._cache[target]
        if target == "pipeline_stages":
            result = self._stages()
        else:
            sort = [spec.title_fields[-1]] if spec.title_fields[-1] != "id" else ["id"]
            query = ListQuery(sort=sort, limit=REFERENCE_SELECT_LIMIT)
            if target == "pipelines":
                query.filters = [Filter("object_type", "eq", "opportunity")]
            if not self.actor.access.allows(target, "read"):
                self._cache[target] = ([], False)
                return self._cache[target]
            page = self.records.list(self.session, target, query, actor=self.actor, observe=False)
            options = [(str(r.id), str(r.values["title"])) for r in page.items]
            result = (options, page.next_cursor is not None)
        self._cache[target] = result
        return result

    def _stages(self) -> tuple[list[tuple[str, str]], bool]:
        pipelines = self.records.list(self.session, "pipelines", ListQuery(sort=["name"], limit=200),
                                      actor=self.actor, observe=False)
        names = {r.id: str(r.values["title"]) for r in pipelines.items}
        stages = self.records.list(
            self.session, "pipeline_stages", ListQuery(sort=["pipeline_id", "position"], limit=200),
            actor=self.actor, observe=False,
        )
        return (
            [(str(r.id), f"{names.get(r.values['pipeline_id'], '')} · {r.values['name']}")
             for r in stages.items],
            stages.next_cursor is not None,
        )

    def title(self, target: str, record_id: int) -> str:
        spec_name = target if target in OBJECTS else "custom_records"
        found = self.records.get_many(self.session, spec_name, [record_id], actor=self.actor)
        return str(found[record_id].values["title"]) if record_id in found else f"#{record_id}"


def build_fields(
    fields: Iterable[FieldSpec],
    values: Mapping[str, Any],
    display: Display,
    refs: ReferenceOptions,
    *,
    submitted: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[FormField]:
    """Inputs for ``fields`` filled from the record (or from what the user just submitted)."""
    out: list[FormField] = []
    errors = errors or {}
    for spec in fields:
        name = input_name(spec)
        if submitted is not None and name in submitted:
            value = submitted[name]
        else:
            value = raw_value(spec, field_value(spec, values), display.fmt)
        widget = widget_for(spec)
        options: list[tuple[str, str]] = []
        search_url = None
        if spec.kind == KIND_ENUM or spec.kind == KIND_MULTI_ENUM:
            options = [(o, display.option(o)) for o in spec.options]
        elif spec.kind == KIND_BOOLEAN:
            options = [("true", display.gettext("Yes")), ("false", display.gettext("No"))]
        elif spec.kind == KIND_CURRENCY:
            codes = list(COMMON_CURRENCIES)
            if value and value not in codes:
                codes.append(str(value))
            options = [(c, c) for c in codes]
        elif spec.kind == KIND_REFERENCE and spec.reference:
            options, more = refs.choices(spec.reference)
            if value and value not in {v for v, _ in options} and str(value).isdigit():
                options = [(str(value), refs.title(spec.reference, int(value))), *options]
            if spec.reference not in OBJECTS:
                widget = "number"
            elif more:
                search_url = f"/lookup/{spec.reference}"
        out.append(FormField(
            spec=spec, name=name, label=display.label(spec), widget=widget, value=value,
            required=spec.required, options=options, error=errors.get(name),
            search_url=search_url,
        ))
    return out


def _submitted(spec: FieldSpec, form: FormData) -> Any:
    name = input_name(spec)
    if spec.kind == KIND_MULTI_ENUM:
        return [str(v) for v in form.getlist(name)]
    raw = form.get(name)
    return str(raw).strip() if raw is not None else None


def _convert(spec: FieldSpec, raw: Any, fmt: Formatter) -> Any:
    """Form text → the value the service expects; ``ValueError`` carries a user message."""
    if spec.kind == KIND_MULTI_ENUM:
        return raw or None
    if raw == "":
        return None
    kind = spec.kind
    if kind in (KIND_REFERENCE, KIND_INTEGER):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(N_("enter a whole number")) from None
    if kind in (KIND_MONEY, KIND_NUMBER):
        cleaned = raw.replace(",", "").replace(" ", "").replace("_", "")
        try:
            Decimal(cleaned)
        except ArithmeticError:
            raise ValueError(N_("enter a number, e.g. 1250000.00")) from None
        return cleaned
    if kind == KIND_BOOLEAN:
        return raw in ("true", "on", "1", "yes")
    if kind == KIND_DATETIME:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(N_("enter a date and time")) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=fmt.tz)
        return moment.isoformat() if spec.custom else moment
    if kind == KIND_DATE:
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError(N_("enter a date like 2026-01-31")) from None
    if kind == KIND_JSON:
        return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
    return raw


@dataclass
class ParsedForm:
    data: dict[str, Any]
    submitted: dict[str, Any]
    errors: dict[str, str]


def parse_form(
    fields: Iterable[FieldSpec],
    form: FormData,
    fmt: Formatter,
    *,
    current: Mapping[str, Any] | None = None,
) -> ParsedForm:
    """Read the fields present in ``form``; on update only the ones the user changed."""
    data: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    submitted: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in fields:
        name = input_name(spec)
        if name not in form and not (spec.kind == KIND_MULTI_ENUM and f"{name}.present" in form):
            continue
        raw = _submitted(spec, form)
        submitted[name] = raw
        if current is not None and raw == raw_value(spec, field_value(spec, current), fmt):
            continue
        try:
            value = _convert(spec, raw, fmt)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        if value is None and current is None:
            continue
        if spec.custom:
            custom[spec.name] = value
        else:
            data[spec.name] = value
    if custom:
        data["custom"] = custom
    return ParsedForm(data, submitted, errors)


def field_errors(errors: Iterable[FieldError], known: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Split domain errors into those shown next to an input and the rest (a banner)."""
    names = set(known)
    by_field: dict[str, str] = {}
    general: list[str] = []
    for err in errors:
        if err.field in names:
            by_field.setdefault(err.field, err.message)
        else:
            general.append(f"{err.field}: {err.message}" if err.field else err.message)
    return by_field, general
