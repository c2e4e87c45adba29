"""Consent and lawful basis per person and purpose (GDPR, CCPA, PIPL).

Every decision is one row of ``consents``; the newest row (highest id, never wall-clock
order) per subject and purpose is the one in force. Rows are never updated: a change of mind
is a new row, so the history is the proof. Only erasure of the person deletes them (the
privacy module). A decision is valid when it grants the purpose, rests on a lawful basis the
purpose accepts (``ALLOWED_BASES``) and has not expired. See docs/consent.md.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, String, Table, exists, func, literal, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, aliased

from rapport.db.base import utcnow
from rapport.errors import (
    ConsentRequired,
    ErrorCollector,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from rapport.trust import audit
from rapport.trust.actor import Actor
from rapport.trust.models import ConsentRecord
from rapport.trust.pseudonym import target_ref

PURPOSES = ("marketing_email", "sms", "profiling", "analytics", "partner_sharing", "sensitive_data")
STATUSES = ("granted", "withdrawn", "denied")
LAWFUL_BASES = ("consent", "contract", "legal_obligation", "vital_interests", "public_task",
                "legitimate_interests")
# States shown per purpose: a status of the newest decision, "expired" or "none".
STATES = (*STATUSES, "expired", "none")
# Objects whose records are people that decisions can be recorded for ("profiles" later).
SUBJECT_OBJECTS = ("contacts", "leads")
# Marketing purposes an audience can be exported for, and the fields sending needs.
AUDIENCE_FIELDS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "marketing_email": MappingProxyType({"contacts": ("email",), "leads": ("email",)}),
    "sms": MappingProxyType({"contacts": ("mobile", "phone"), "leads": ("phone",)}),
})

# Which lawful bases can make a purpose valid when granted (docs/consent.md explains why).
# PIPL has no legitimate-interests basis and asks for *separate* consent for sensitive
# personal information (art. 29) and for providing data to another handler (art. 23); GDPR
# art. 9 asks for explicit consent for special categories. Direct marketing and profiling
# may rest on consent or, under GDPR recital 47 / art. 21, on legitimate interests with an
# absolute right to object (recorded as ``withdrawn`` under legitimate_interests).
ALLOWED_BASES: Mapping[str, frozenset[str]] = MappingProxyType({
    "marketing_email": frozenset({"consent", "legitimate_interests"}),
    "sms": frozenset({"consent", "legitimate_interests"}),
    "profiling": frozenset({"consent", "legitimate_interests"}),
    "analytics": frozenset({"consent", "legitimate_interests"}),
    "partner_sharing": frozenset({"consent"}),
    "sensitive_data": frozenset({"consent"}),
})
# Purposes whose grant must carry evidence of the separate, explicit consent.
EVIDENCE_REQUIRED = frozenset({"partner_sharing", "sensitive_data"})

MAX_SOURCE = 100
MAX_EVIDENCE = 10_000
MAX_PAGE = 200
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


@dataclass(frozen=True)
class Subject:
    """A person record a decision is about: ``contacts:12``."""

    object: str
    id: int

    def __str__(self) -> str:
        return f"{self.object}:{self.id}"


@dataclass(frozen=True)
class ConsentEntry:
    """One recorded decision."""

    id: int
    subject: str
    purpose: str
    status: str
    lawful_basis: str
    source: str
    evidence: str | None
    recorded_at: datetime
    expires_at: datetime | None
    recorded_by: int | None

    def expired(self, at: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (at or utcnow())

    def valid(self, at: datetime | None = None) -> bool:
        """Granted, on a basis the purpose accepts, and not expired."""
        return (self.status == "granted"
                and self.lawful_basis in ALLOWED_BASES.get(self.purpose, frozenset())
                and not self.expired(at))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "subject": self.subject, "purpose": self.purpose,
            "status": self.status, "lawful_basis": self.lawful_basis, "source": self.source,
            "evidence": self.evidence, "recorded_at": self.recorded_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "recorded_by": self.recorded_by,
        }


@dataclass(frozen=True)
class PurposeState:
    """Where one purpose stands for a person: the decision in force and what it means now."""

    purpose: str
    state: str  # one of STATES
    valid: bool
    entry: ConsentEntry | None

    def to_json(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "purpose": self.purpose, "state": self.state, "valid": self.valid,
            "status": entry.status if entry else None,
            "lawful_basis": entry.lawful_basis if entry else None,
            "source": entry.source if entry else None,
            "recorded_at": entry.recorded_at.isoformat() if entry else None,
            "expires_at": entry.expires_at.isoformat() if entry and entry.expires_at else None,
            "recorded_by": entry.recorded_by if entry else None,
            "consent_id": entry.id if entry else None,
        }


@dataclass(frozen=True)
class HistoryPage:
    items: list[ConsentEntry]
    next_cursor: str | None


# ---- validation ----------------------------------------------------------------------------


def _choices(values: Sequence[str] | frozenset[str]) -> str:
    return ", ".join(sorted(values) if isinstance(values, frozenset) else values)


def _parse_subject(raw: Any, errors: ErrorCollector, field: str = "subject") -> Subject | None:
    text = raw.strip() if isinstance(raw, str) else ""
    object_name, sep, record_id = text.partition(":")
    if not sep or object_name not in SUBJECT_OBJECTS:
        errors.add(field, f"use <object>:<id> with object one of {_choices(SUBJECT_OBJECTS)}, "
                          "e.g. contacts:12")
        return None
    if not record_id.isascii() or not record_id.isdigit() or not 1 <= int(record_id) < 2**63:
        errors.add(field, "the id after ':' must be a positive whole number, e.g. contacts:12")
        return None
    return Subject(object_name, int(record_id))


def parse_subject(raw: Any, field: str = "subject") -> Subject:
    """``contacts:12`` -> Subject; anything else is a 422 naming the field."""
    errors = ErrorCollector()
    subject = _parse_subject(raw, errors, field)
    errors.raise_if_any("The subject is not a person record reference")
    return cast(Subject, subject)


def _as_subject(subject: Subject | str) -> Subject:
    return subject if isinstance(subject, Subject) else parse_subject(subject)


def _table(object_name: str) -> Table:
    from rapport.crm.registry import OBJECTS

    return cast(Table, OBJECTS[object_name].model.__table__)


def subject_exists(session: Session, subject: Subject) -> bool:
    table = _table(subject.object)
    return session.scalar(select(table.c.id).where(table.c.id == subject.id)) is not None


def require_subject(session: Session, subject: Subject | str, field: str = "subject") -> Subject:
    """The parsed subject, or a 422 when no such record exists."""
    parsed = _as_subject(subject)
    if not subject_exists(session, parsed):
        singular = parsed.object.removesuffix("s")
        raise ValidationFailed(f"No {singular} with id {parsed.id}", errors=[
            FieldError(field, f"no {singular} with id {parsed.id}", "not_found")])
    return parsed


def _check_purpose(purpose: str, errors: ErrorCollector, field: str = "purpose") -> None:
    if purpose not in PURPOSES:
        errors.add(field, f"unknown purpose; use one of {_choices(PURPOSES)}")


def _clean(value: str | None, field: str, limit: int, errors: ErrorCollector) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        errors.add(field, "must not contain NUL (\\u0000) characters")
        return None
    text = unicodedata.normalize("NFC", value.translate(_ZERO_WIDTH)).strip()
    if len(text) > limit:
        errors.add(field, f"at most {limit} characters", "too_large")
    return text


def check_decision(
    *, purpose: str, status: str, lawful_basis: str, source: str | None, evidence: str | None,
    expires_at: datetime | None, now: datetime | None = None, errors: ErrorCollector | None = None,
) -> tuple[str, str | None]:
    """Validate one decision against the vocabularies and the rule table.

    Returns the cleaned source and evidence. Withdrawals and denials are accepted on any known
    basis (they only ever restrict processing); a grant must rest on a basis the purpose
    accepts, and the separate-consent purposes need evidence.
    """
    own = errors is None
    errors = errors if errors is not None else ErrorCollector()
    _check_purpose(purpose, errors)
    if status not in STATUSES:
        errors.add("status", f"unknown status; use one of {_choices(STATUSES)}")
    if lawful_basis not in LAWFUL_BASES:
        errors.add("lawful_basis", f"unknown lawful basis; use one of {_choices(LAWFUL_BASES)}")
    elif status == "granted" and purpose in ALLOWED_BASES and (
            lawful_basis not in ALLOWED_BASES[purpose]):
        errors.add("lawful_basis",
                   f"{purpose} can only be granted on {_choices(ALLOWED_BASES[purpose])}",
                   "basis_not_allowed")
    clean_source = _clean(source, "source", MAX_SOURCE, errors)
    if not clean_source and not any(e.field == "source" for e in errors.errors):
        errors.add("source", "say where the decision came from, e.g. web_form, phone_call, "
                             "web_sdk", "required")
    clean_evidence = _clean(evidence, "evidence", MAX_EVIDENCE, errors) or None
    if status == "granted" and purpose in EVIDENCE_REQUIRED and not clean_evidence and not any(
            e.field == "evidence" for e in errors.errors):
        errors.add("evidence", f"{purpose} needs separate, explicit consent: describe the "
                               "proof (form, wording, version)", "required")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            errors.add("expires_at", "give a timezone offset, e.g. 2027-01-31T00:00:00+08:00",
                       "timezone_aware")
        elif status != "granted":
            errors.add("expires_at", "only a granted consent can expire")
        elif expires_at <= (now or utcnow()):
            errors.add("expires_at", "is in the past; a consent must expire in the future")
    if own:
        errors.raise_if_any("The consent decision is invalid")
    return clean_source or "", clean_evidence


# ---- writing -------------------------------------------------------------------------------


def _entry(row: ConsentRecord) -> ConsentEntry:
    return ConsentEntry(row.id, row.subject, row.purpose, row.status, row.lawful_basis,
                        row.source, row.evidence, row.recorded_at, row.expires_at,
                        row.recorded_by)


def _newest(session: Session, subject: str, purpose: str) -> ConsentRecord | None:
    return session.scalar(
        select(ConsentRecord).where(ConsentRecord.subject == subject,
                                    ConsentRecord.purpose == purpose)
        .order_by(ConsentRecord.id.desc()).limit(1))


def record(
    session: Session,
    secret: str,
    actor_user_id: int | None,
    subject: Subject | str,
    purpose: str,
    status: str,
    lawful_basis: str,
    source: str,
    evidence: str | None = None,
    expires_at: datetime | None = None,
) -> ConsentEntry:
    """Append one decision and its audit entry in the caller's transaction (no commit).

    The audit entry names the person by pseudonym and holds only purpose, status and basis.
    """
    errors = ErrorCollector()
    parsed = subject if isinstance(subject, Subject) else _parse_subject(subject, errors)
    clean_source, clean_evidence = check_decision(
        purpose=purpose, status=status, lawful_basis=lawful_basis, source=source,
        evidence=evidence, expires_at=expires_at, errors=errors)
    errors.raise_if_any("The consent decision is invalid")
    if expires_at is not None:
        expires_at = expires_at.astimezone(UTC)
    parsed = require_subject(session, cast(Subject, parsed))
    key = str(parsed)
    previous = _newest(session, key, purpose)
    row = ConsentRecord(subject=key, purpose=purpose, status=status, lawful_basis=lawful_basis,
                        source=clean_source, evidence=clean_evidence, recorded_at=utcnow(),
                        expires_at=expires_at, recorded_by=actor_user_id)
    session.add(row)
    session.flush()
    details: dict[str, Any] = {
        "consent_id": row.id, "purpose": purpose, "status": status,
        "lawful_basis": lawful_basis,
        "previous_status": previous.status if previous is not None else None,
    }
    if expires_at is not None:
        details["expires_at"] = expires_at.isoformat()
    audit.append(session, secret, "consent_changed", actor=audit.actor_ref(actor_user_id),
                 target=target_ref(secret, parsed.object, parsed.id), details=details)
    return _entry(row)


def carry_over(session: Session, secret: str, actor_user_id: int | None,
               from_subject: Subject | str, to_subject: Subject | str) -> list[ConsentEntry]:
    """Copy the decisions in force for one person to the record that now holds them (a lead
    converted into a contact), each as a new decision that cites the original; expired grants
    are not carried over."""
    key = str(_as_subject(from_subject))
    carried = []
    for purpose, entry in sorted(_in_force(session, key, PURPOSES, None).items()):
        if entry.status == "granted" and entry.expired():
            continue
        evidence = f"carried over from {key} (decision #{entry.id} of {entry.recorded_at:%Y-%m-%d})"
        if entry.evidence:
            evidence += f": {entry.evidence}"
        carried.append(record(
            session, secret, actor_user_id, to_subject, purpose, entry.status,
            entry.lawful_basis, f"lead_conversion:{entry.source}"[:100], evidence[:2000],
            entry.expires_at))
    return carried


# ---- reading -------------------------------------------------------------------------------


def history(session: Session, subject: Subject | str, *, limit: int = 50,
            cursor: str | None = None) -> HistoryPage:
    """Every decision for the person, newest first; ``cursor`` is the previous next_cursor."""
    key = str(_as_subject(subject))
    limit = max(1, min(limit, MAX_PAGE))
    stmt = select(ConsentRecord).where(ConsentRecord.subject == key)
    if cursor:
        if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19:
            raise ValidationFailed("The cursor is not valid; pass next_cursor as it came",
                                   errors=[FieldError("cursor", "not a cursor from this list")])
        stmt = stmt.where(ConsentRecord.id < int(cursor))
    rows = list(session.scalars(stmt.order_by(ConsentRecord.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryPage([_entry(r) for r in rows], str(rows[-1].id) if more else None)


def _in_force(session: Session, key: str, purposes: Sequence[str],
              at: datetime | None) -> dict[str, ConsentEntry]:
    newest = (select(func.max(ConsentRecord.id))
              .where(ConsentRecord.subject == key, ConsentRecord.purpose.in_(purposes)))
    if at is not None:
        newest = newest.where(ConsentRecord.recorded_at <= at)
    rows = session.scalars(
        select(ConsentRecord).where(ConsentRecord.id.in_(newest.group_by(ConsentRecord.purpose))))
    return {r.purpose: _entry(r) for r in rows}


def state_of(purpose: str, entry: ConsentEntry | None, at: datetime | None = None) -> PurposeState:
    if entry is None:
        return PurposeState(purpose, "none", False, None)
    if entry.status == "granted" and entry.expired(at):
        return PurposeState(purpose, "expired", False, entry)
    return PurposeState(purpose, entry.status, entry.valid(at), entry)


def current(session: Session, subject: Subject | str,
            at: datetime | None = None) -> list[PurposeState]:
    """The state of every purpose for the person (``none`` where nothing was recorded)."""
    key = str(_as_subject(subject))
    entries = _in_force(session, key, PURPOSES, at)
    return [state_of(p, entries.get(p), at) for p in PURPOSES]


def _known_purpose(purpose: str) -> None:
    errors = ErrorCollector()
    _check_purpose(purpose, errors)
    errors.raise_if_any("Unknown consent purpose")


def has_valid(session: Session, subject: Subject | str, purpose: str,
              at: datetime | None = None) -> bool:
    """Whether the decision in force at ``at`` (default now) makes ``purpose`` lawful."""
    _known_purpose(purpose)
    key = str(_as_subject(subject))
    entry = _in_force(session, key, [purpose], at).get(purpose)
    return entry is not None and entry.valid(at)


def require(session: Session, subject: Subject | str, purpose: str,
            at: datetime | None = None) -> None:
    """Raise ``ConsentRequired`` (403, code consent_required) unless ``has_valid``."""
    if not has_valid(session, subject, purpose, at):
        raise ConsentRequired(
            f"{_as_subject(subject)} has no valid consent for {purpose}; record one first")


def profiling_allowed(session: Session, subject: Subject | str) -> bool:
    """Gate for building or scoring a profile of the person (data hub, AI)."""
    return has_valid(session, subject, "profiling")


def analytics_allowed(session: Session, subject: Subject | str) -> bool:
    """Gate for using the person's behaviour in analytics (events, data hub)."""
    return has_valid(session, subject, "analytics")


def consented_subjects_clause(object_name: str, purpose: str, *, at: datetime | None = None,
                              id_column: Any = None) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows of ``object_name`` whose person has valid consent.

    Use it on the object's table, e.g. ``select(contacts.c.id).where(clause)``;
    ``id_column`` names the id column when the table is not a registry object (profiles).
    """
    _known_purpose(purpose)
    if id_column is None:
        if object_name not in SUBJECT_OBJECTS:
            raise ValidationFailed(
                f"Consent is kept for {_choices(SUBJECT_OBJECTS)}, not {object_name}",
                errors=[FieldError("object", f"use one of {_choices(SUBJECT_OBJECTS)}")])
        id_column = _table(object_name).c.id
    moment = at or utcnow()
    prefix = f"{object_name}:"
    decision = aliased(ConsentRecord, name="consent_in_force")
    newer = aliased(ConsentRecord, name="consent_newer")
    later = [newer.subject == decision.subject, newer.purpose == decision.purpose,
             newer.id > decision.id]
    if at is not None:
        later.append(newer.recorded_at <= moment)
    valid = select(decision.subject).where(
        decision.purpose == purpose,
        decision.subject.startswith(prefix, autoescape=True),
        decision.status == "granted",
        decision.lawful_basis.in_(sorted(ALLOWED_BASES[purpose])),
        or_(decision.expires_at.is_(None), decision.expires_at > moment),
        decision.recorded_at <= moment,
        ~exists().where(*later),
    )
    key = literal(prefix, String) + sql_cast(id_column, String)
    return key.in_(valid)


def subjects_with_email(session: Session, email: str) -> list[Subject]:
    """Contacts and leads whose (normalised) email is ``email``; a 422 if it is no email."""
    from rapport.crm.normalise import normalise_email

    try:
        normalised = normalise_email(email)
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[FieldError("email", str(exc))]) from None
    found: list[Subject] = []
    for object_name in SUBJECT_OBJECTS:
        table = _table(object_name)
        ids = session.scalars(select(table.c.id).where(table.c.email == normalised)
                              .order_by(table.c.id).limit(MAX_PAGE))
        found.extend(Subject(object_name, int(i)) for i in ids)
    return found


@dataclass(frozen=True)
class Collected:
    """What happened to one person's decision posted by a collector (web SDK)."""

    subject: str
    outcome: str  # recorded | stale
    entry: ConsentEntry | None

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "outcome": self.outcome,
                "consent": self.entry.to_json() if self.entry else None}


def record_collected(
    session: Session,
    secret: str,
    actor_user_id: int | None,
    subjects: Sequence[Subject],
    purpose: str,
    status: str,
    source: str,
    evidence: str | None,
    collected_at: datetime | None = None,
) -> list[Collected]:
    """Record a banner decision (always on the ``consent`` basis) for each subject.

    A decision collected before the one now in force was recorded is stale (a late or
    replayed event): it is not applied, and the drop is audited as ``consent_ignored``.
    """
    results: list[Collected] = []
    for subject in subjects:
        previous = _newest(session, str(subject), purpose)
        if collected_at is not None and previous is not None and (
                previous.recorded_at > collected_at):
            audit.append(session, secret, "consent_ignored", actor=audit.actor_ref(actor_user_id),
                          target=target_ref(secret, subject.object, subject.id),
                          details={"purpose": purpose, "status": status, "reason": "stale",
                                   "in_force": previous.id})
            results.append(Collected(str(subject), "stale", None))
            continue
        entry = record(session, secret, actor_user_id, subject, purpose, status, "consent",
                       source, evidence)
        results.append(Collected(str(subject), "recorded", entry))
    return results


# ---- who may see and change whose consent ----------------------------------------------------


class _Records(Protocol):
    def get(self, session: Session, object_name: str, record_id: int, *, actor: Actor) -> Any: ...


def _in_scope(records: _Records, session: Session, actor: Actor, subject: Subject) -> bool:
    try:
        records.get(session, subject.object, subject.id, actor=actor)
    except NotFound:
        return False
    return True


def may(actor: Actor, object_name: str, right: str) -> bool:
    """Whether ``actor`` may ``right`` (read/update) consent of people in ``object_name``."""
    return actor.can("consent.manage") or actor.access.allows(object_name, right)


def authorise(records: _Records, session: Session, actor: Actor, raw: Subject | str, right: str,
              *, unknown: str = "not_found") -> Subject:
    """The subject, if ``actor`` may ``right`` (read or update) its consent.

    ``consent.manage`` or the object right is needed. Without ``consent.manage`` the person
    must be within the caller's record scope (checked through the record service). An unknown
    person and one out of scope get the same answer: 404 (``unknown="not_found"``) or a 422 on
    the subject field (``unknown="invalid"``, for writes).
    """
    subject = _as_subject(raw)
    manager = actor.can("consent.manage")
    if not may(actor, subject.object, right):
        verb = "see" if right == "read" else "record"
        raise Forbidden(f"Your roles do not allow you to {verb} consent for {subject.object} "
                        f"(consent.manage or the {right} right is needed)")
    found = (subject_exists(session, subject) if manager
             else _in_scope(records, session, actor, subject))
    if not found:
        singular = subject.object.removesuffix("s")
        if unknown == "invalid":
            raise ValidationFailed(f"No {singular} with id {subject.id}", errors=[
                FieldError("subject", f"no {singular} with id {subject.id}", "not_found")])
        raise NotFound(f"No {singular} with id {subject.id}")
    return subject


def visible_subjects(records: _Records, session: Session, actor: Actor,
                     subjects: Sequence[Subject], right: str) -> list[Subject]:
    """Of ``subjects``, those whose consent ``actor`` may ``right``."""
    if actor.can("consent.manage"):
        return list(subjects)
    return [s for s in subjects
            if actor.access.allows(s.object, right) and _in_scope(records, session, actor, s)]
