"""Data-subject requests: open one, track it against its legal deadline, answer it.

An access request is answered with a ZIP bundle (one JSON file with everything held about
the person, one CSV per store) produced on demand, never stored. An erasure request runs
``rapport.trust.erasure`` in one transaction, adds the person's identifiers to the
suppression ledger and records per-store counts in the request's report; afterwards the
database's own clean-up runs (SQLite WAL checkpoint, PostgreSQL ``VACUUM``). The request row
keeps only a record reference, a pseudonym, dates and counts.
"""

from __future__ import annotations

import csv
import io
import math
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.crm.models import Contact, Lead
from rapport.crm.normalise import normalise_email, normalise_phone
from rapport.db.base import utcnow
from rapport.errors import Conflict, FieldError, NotFound, ValidationFailed
from rapport.trust import audit, erasure, suppression
from rapport.trust.actor import SYSTEM, Actor
from rapport.trust.models import DataSubjectRequest, Suppression
from rapport.trust.pseudonym import pseudonym

if TYPE_CHECKING:
    from rapport.bootstrap import Container

KINDS = ("access", "erasure")
LAWS = ("gdpr", "ccpa", "pipl")
STATUSES = ("received", "in_progress", "completed", "rejected")
OPEN_STATUSES = ("received", "in_progress")
# Days to answer, counted from receipt (see docs/privacy-requests.md for the sources):
# GDPR art. 12(3) "within one month" (30 days here); CCPA, Cal. Civ. Code 1798.130(a)(2),
# 45 days; PIPL art. 50 says "in time" without a number: 15 days follows Chinese regulators'
# practice for deletion and account-cancellation requests (15 working days), kept stricter.
DEADLINE_DAYS = {"gdpr": 30, "ccpa": 45, "pipl": 15}
MAX_NOTES = 2000


@dataclass(frozen=True)
class RequestInfo:
    id: int
    kind: str
    law: str
    subject: str | None
    subject_pseudonym: str
    status: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    requested_by: int | None
    notes: str | None
    report: dict[str, Any]
    overdue: bool
    days_left: int

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "law": self.law, "subject": self.subject,
            "subject_pseudonym": self.subject_pseudonym, "status": self.status,
            "received_at": self.received_at.isoformat(), "due_at": self.due_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "requested_by": self.requested_by, "notes": self.notes, "report": self.report,
            "overdue": self.overdue, "days_left": self.days_left,
        }


def _info(row: DataSubjectRequest, now: datetime | None = None) -> RequestInfo:
    now = now or utcnow()
    is_open = row.status in OPEN_STATUSES
    return RequestInfo(
        id=row.id, kind=row.kind, law=row.law, subject=row.subject,
        subject_pseudonym=row.subject_pseudonym, status=row.status, received_at=row.received_at,
        due_at=row.due_at, completed_at=row.completed_at, requested_by=row.requested_by,
        notes=row.notes, report=dict(row.report or {}),
        overdue=is_open and row.due_at < now,
        # whole days, toward zero: 10.4 days late is "10 days overdue"
        days_left=math.trunc((row.due_at - now).total_seconds() / 86400),
    )


def due_date(law: str, received_at: datetime) -> datetime:
    return received_at + timedelta(days=DEADLINE_DAYS[law])


# ---- finding the person ------------------------------------------------------------------


@dataclass(frozen=True)
class PersonMatch:
    """A contact or lead that matches a lookup (shown to the privacy officer to confirm)."""

    ref: str
    title: str
    email: str | None
    phone: str | None

    def as_json(self) -> dict[str, Any]:
        return {"subject": self.ref, "title": self.title, "email": self.email, "phone": self.phone}


def find_people(
    session: Session, settings: Settings, *, subject: str | None = None,
    email: str | None = None, phone: str | None = None,
) -> list[PersonMatch]:
    """Contacts and leads matching exactly one of a record reference, an e-mail or a phone."""
    given = [n for n, v in (("subject", subject), ("email", email), ("phone", phone)) if v]
    if len(given) != 1:
        raise ValidationFailed(
            "Name the person by exactly one of subject (e.g. contacts:12), email or phone",
            errors=[FieldError("subject", "give exactly one of subject, email, phone")])
    contacts: Any
    leads: Any
    if subject:
        table, rid = erasure.parse_ref(subject)
        contacts = Contact.id == rid if table == "contacts" else None
        leads = Lead.id == rid if table == "leads" else None
    elif email:
        try:
            value = normalise_email(email)
        except ValueError as exc:
            raise ValidationFailed("Check the e-mail address",
                                   errors=[FieldError("email", str(exc))]) from exc
        contacts, leads = Contact.email == value, Lead.email == value
    else:
        try:
            value = normalise_phone(str(phone), settings.default_phone_region)
        except ValueError as exc:
            raise ValidationFailed("Check the phone number",
                                   errors=[FieldError("phone", str(exc))]) from exc
        contacts = (Contact.phone == value) | (Contact.mobile == value)
        leads = Lead.phone == value
    matches: list[PersonMatch] = []
    lookups: list[tuple[Any, Any, str]] = [(Contact, contacts, "contacts"), (Lead, leads, "leads")]
    for model, condition, name in lookups:
        if condition is None:
            continue
        for row in session.execute(select(model).where(condition).order_by(model.id).limit(50)).scalars():
            title = " ".join(p for p in (row.first_name, row.last_name) if p) or f"#{row.id}"
            matches.append(PersonMatch(f"{name}:{row.id}", title, row.email, row.phone))
    return matches


def _resolve_ref(session: Session, settings: Settings, *, subject: str | None,
                 email: str | None, phone: str | None) -> str:
    matches = find_people(session, settings, subject=subject, email=email, phone=phone)
    if not matches:
        what = "record" if subject else "e-mail address" if email else "phone number"
        raise NotFound(f"No contact or lead with this {what}: nothing is held about them")
    return matches[0].ref


# ---- the request lifecycle ---------------------------------------------------------------


def create_request(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    kind: str,
    law: str,
    subject: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    received_on: date | None = None,
    notes: str | None = None,
) -> RequestInfo:
    """Open a request for the person found by record, e-mail or phone (not committed)."""
    errors = []
    if kind not in KINDS:
        errors.append(FieldError("kind", f"use one of {', '.join(KINDS)}"))
    if law not in LAWS:
        errors.append(FieldError("law", f"use one of {', '.join(LAWS)}"))
    if notes is not None and len(notes) > MAX_NOTES:
        errors.append(FieldError("notes", f"at most {MAX_NOTES} characters"))
    now = utcnow()
    received_at = now
    if received_on is not None:
        received_at = datetime(received_on.year, received_on.month, received_on.day, tzinfo=UTC)
        if received_at > now:
            errors.append(FieldError("received_on", "the request cannot arrive in the future"))
    if errors:
        raise ValidationFailed("Some fields are invalid", errors=errors)
    ref = _resolve_ref(session, settings, subject=subject, email=email, phone=phone)
    table, rid = erasure.parse_ref(ref)
    alias = pseudonym(settings.secret_key, table, rid)
    row = DataSubjectRequest(
        kind=kind, law=law, subject=ref, subject_pseudonym=alias, status="received",
        received_at=received_at, due_at=due_date(law, received_at), requested_by=actor.user_id,
        report={}, notes=(notes or None), custom={},
    )
    session.add(row)
    session.flush()
    audit.append(session, settings.secret_key, "dsr_created", actor=audit.actor_ref(actor.user_id),
                 target=alias, network=actor.network,
                 details={"request_id": row.id, "kind": kind, "law": law,
                          "due_at": row.due_at.isoformat()})
    return _info(row, now)


def list_requests(
    session: Session, *, status: str | None = None, kind: str | None = None,
    overdue: bool | None = None, limit: int = 100, offset: int = 0,
) -> list[RequestInfo]:
    """Open requests first, soonest deadline first; then the closed ones, newest first."""
    now = utcnow()
    stmt = select(DataSubjectRequest)
    if status:
        if status not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}")
        stmt = stmt.where(DataSubjectRequest.status == status)
    if kind:
        if kind not in KINDS:
            raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}")
        stmt = stmt.where(DataSubjectRequest.kind == kind)
    is_open = DataSubjectRequest.status.in_(OPEN_STATUSES)
    if overdue is True:
        stmt = stmt.where(is_open, DataSubjectRequest.due_at < now)
    elif overdue is False:
        stmt = stmt.where(~(is_open & (DataSubjectRequest.due_at < now)))
    open_first = case((is_open, 0), else_=1)
    stmt = stmt.order_by(open_first, case((is_open, DataSubjectRequest.due_at), else_=None),
                         DataSubjectRequest.id.desc()).limit(limit).offset(offset)
    return [_info(row, now) for row in session.scalars(stmt)]


def get_request(session: Session, request_id: int) -> RequestInfo:
    row = session.get(DataSubjectRequest, request_id)
    if row is None:
        raise NotFound(f"No privacy request with id {request_id}")
    return _info(row)


@dataclass(frozen=True)
class Holdings:
    """What the database holds about a request's person right now (per store counts)."""

    records: dict[str, list[int]]
    counts: dict[str, int]


def holdings(session: Session, settings: Settings, info: RequestInfo) -> Holdings | None:
    """Per-store counts for the request's person; None once they no longer exist."""
    if not info.subject:
        return None
    try:
        subject = erasure.resolve_subject(session, settings.secret_key, info.subject)
    except NotFound:
        return None
    return Holdings({t: list(ids) for t, ids in subject.records.items()},
                    erasure.find_all(session, subject))


def reject_request(session: Session, settings: Settings, actor: Actor, request_id: int,
                   reason: str) -> RequestInfo:
    """Close an open request without acting on it (identity not verified, manifestly
    unfounded...); the reason is kept in the notes."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationFailed("Say why the request is rejected (1 to 500 characters)",
                               errors=[FieldError("reason", "1 to 500 characters")])
    row = _locked(session, request_id)
    if row.status not in OPEN_STATUSES:
        raise Conflict(f"Request {request_id} is already {row.status}")
    row.status = "rejected"
    row.completed_at = utcnow()
    row.notes = ((row.notes + "\n") if row.notes else "") + f"Rejected: {reason}"
    if len(row.notes) > MAX_NOTES + 600:
        row.notes = row.notes[-(MAX_NOTES + 600):]
    audit.append(session, settings.secret_key, "dsr_rejected", actor=audit.actor_ref(actor.user_id),
                 target=row.subject_pseudonym, network=actor.network,
                 details={"request_id": row.id, "kind": row.kind})
    session.flush()
    return _info(row)


def _locked(session: Session, request_id: int) -> DataSubjectRequest:
    """The request row, write-locked first (SQLite: the write lock before any read, so the
    transaction sees the latest data; PostgreSQL: the row, so two runs cannot overlap)."""
    touched = session.execute(update(DataSubjectRequest).where(DataSubjectRequest.id == request_id)
                              .values(updated_at=utcnow()))
    if not touched.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"No privacy request with id {request_id}")
    row = session.get(DataSubjectRequest, request_id, populate_existing=True)
    assert row is not None
    return row


# ---- access ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    filename: str
    content: bytes
    counts: dict[str, int]
    seconds: float


def _csv(rows: list[dict[str, Any]]) -> bytes:
    from rapport.crm.exporter import escape_cell

    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for name in columns:
            value = row.get(name)
            if value is None:
                cells.append("")
            elif isinstance(value, dict | list):
                cells.append(escape_cell(orjson.dumps(value).decode()))
            elif isinstance(value, str):
                cells.append(escape_cell(value))
            else:
                cells.append(str(value))
        writer.writerow(cells)
    return out.getvalue().encode("utf-8-sig")  # a BOM: spreadsheets then read UTF-8


README = """Personal data held by Rapport about one person (data-subject access request {id}).

subject.json  everything, grouped by store, with what each store holds
<store>.csv   the same rows, one file per store that holds something

Dates are UTC (ISO 8601). Identifiers such as "p_..." are pseudonyms: keyed hashes that name
the person in the audit log without holding their data. Cells that a spreadsheet would run
as a formula start with an apostrophe.
"""


def build_bundle(session: Session, settings: Settings, info: RequestInfo) -> Bundle:
    """The ZIP answer to an access request, built from the database as it is now."""
    if info.kind != "access":
        raise Conflict("Only access requests have a bundle")
    if info.status == "rejected":
        raise Conflict(f"Request {info.id} was rejected")
    if not info.subject:
        raise NotFound("The request names no record")
    started = time.perf_counter()
    try:
        subject = erasure.resolve_subject(session, settings.secret_key, info.subject)
    except NotFound:
        raise NotFound("The person's records no longer exist (erased?): nothing is held") from None
    exported = erasure.export_all(session, subject)
    document = {
        "format": "rapport-dsr-access/1",
        "generated_at": utcnow().isoformat(),
        "request": {"id": info.id, "law": info.law, "received_at": info.received_at.isoformat(),
                    "due_at": info.due_at.isoformat()},
        "subject": subject.primary_pseudonym,
        "records": {t: list(ids) for t, ids in subject.records.items() if ids},
        "stores": {s.name: {"holds": s.holds, "rows": exported[s.name]} for s in erasure.STORES},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README.format(id=info.id))
        archive.writestr("subject.json", orjson.dumps(document, option=orjson.OPT_INDENT_2))
        for name, rows in exported.items():
            if rows:
                archive.writestr(f"{name}.csv", _csv(rows))
    counts = {name: len(rows) for name, rows in exported.items()}
    return Bundle(f"privacy-request-{info.id}-{subject.primary_pseudonym}.zip", buffer.getvalue(),
                  counts, time.perf_counter() - started)


def download_bundle(container: Container, actor: Actor, request_id: int) -> Bundle:
    """Build the bundle and audit the export (each download is an export of personal data)."""
    settings = container.settings
    with container.uow() as uow:
        info = get_request(uow.session, request_id)
        bundle = build_bundle(uow.session, settings, info)
        audit.append(uow.session, settings.secret_key, "dsr_access",
                     actor=audit.actor_ref(actor.user_id), target=info.subject_pseudonym,
                     network=actor.network,
                     details={"request_id": info.id, "download": True,
                              "rows": sum(bundle.counts.values())})
        uow.commit()
    return bundle


def _run_access(container: Container, actor: Actor, request_id: int) -> RequestInfo:
    settings = container.settings
    with container.uow() as uow:
        row = _locked(uow.session, request_id)
        if row.status not in OPEN_STATUSES:
            raise Conflict(f"Request {request_id} is already {row.status}; download its bundle")
        bundle = build_bundle(uow.session, settings, _info(row))
        row.status = "completed"
        row.completed_at = utcnow()
        row.report = {"counts": bundle.counts, "bundle_bytes": len(bundle.content),
                      "seconds": round(bundle.seconds, 3)}
        audit.append(uow.session, settings.secret_key, "dsr_access",
                     actor=audit.actor_ref(actor.user_id), target=row.subject_pseudonym,
                     network=actor.network,
                     details={"request_id": row.id, "counts": bundle.counts})
        uow.commit()
        return _info(row)


# ---- erasure -----------------------------------------------------------------------------


@contextmanager
def erasure_session(container: Container) -> Iterator[Session]:
    """A session on a connection of its own; on SQLite with ``secure_delete`` on, so the
    freed space of every deleted row and index entry is overwritten with zeros."""
    engine = container.engine
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        previous = None
        if sqlite:  # some builds (Debian's) have it on by default: put back what was there
            previous = int(conn.exec_driver_sql("PRAGMA secure_delete").scalar() or 0)
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
            conn.commit()
        try:
            with Session(bind=conn, expire_on_commit=False, autoflush=False) as session:
                yield session
        finally:
            if previous is not None:
                conn.rollback()
                conn.exec_driver_sql(f"PRAGMA secure_delete={previous}")
                conn.commit()


@dataclass
class ErasureRun:
    info: RequestInfo
    touched_tables: list[str] = field(default_factory=list)


def _run_erasure(container: Container, actor: Actor, request_id: int) -> ErasureRun:
    settings = container.settings
    with erasure_session(container) as session:
        row = _locked(session, request_id)
        if row.status not in OPEN_STATUSES:
            raise Conflict(f"Request {request_id} is already {row.status}")
        if not row.subject:
            raise NotFound("The request names no record")
        subject = erasure.resolve_subject(session, settings.secret_key, row.subject, lock=True)
        result = erasure.erase_subject(session, settings.secret_key, subject, request_id=row.id)
        if not result.clean:  # keep nothing half done; say what was left
            session.rollback()
            row = _locked(session, request_id)
            row.status = "in_progress"
            row.report = {**result.report(), "error": "residue found; nothing was erased"}
            session.commit()
            return ErasureRun(_info(row))
        row.status = "completed"
        row.completed_at = utcnow()
        row.report = result.report()
        audit.append(session, settings.secret_key, "dsr_erasure",
                     actor=audit.actor_ref(actor.user_id), target=result.subject,
                     network=actor.network,
                     details={"request_id": row.id, "erased": result.erased,
                              "suppressed": result.suppressed,
                              "records": {t: len(ids) for t, ids in result.records.items()}})
        session.commit()
        info = _info(row)
    for callback in container.on_commit:
        callback()
    return ErasureRun(info, result.touched_tables)


def run_request(container: Container, actor: Actor, request_id: int, *,
                maintenance: bool = True) -> ErasureRun:
    """Answer a request (access: mark it answered; erasure: erase). Commits.

    ``maintenance=False`` leaves the database clean-up after an erasure to the caller
    (``maintain``), e.g. to run it after the HTTP answer was sent.
    """
    with container.session_factory() as session:
        kind = get_request(session, request_id).kind
    if kind == "access":
        return ErasureRun(_run_access(container, actor, request_id))
    run = _run_erasure(container, actor, request_id)
    if maintenance and run.info.status == "completed":
        maintain(container, request_id, run.touched_tables)
        with container.session_factory() as session:
            run.info = get_request(session, request_id)
    return run


def maintain(container: Container, request_id: int | None, tables: list[str]) -> dict[str, Any]:
    """Let the database drop what it still keeps of deleted rows, after the commit.

    SQLite: checkpoint the write-ahead log and truncate it (it holds copies of the pages as
    they were before). PostgreSQL: ``VACUUM (ANALYZE)`` each touched table, outside a
    transaction, so dead row versions and GIN pending entries are removed.
    """
    engine = container.engine
    started = time.perf_counter()
    done: dict[str, Any] = {}
    try:
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                busy, _log, _moved = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
                conn.commit()
            done = {"wal_checkpoint": "done" if not busy else "busy (readers open; retried later by SQLite)"}
        elif engine.dialect.name == "postgresql" and tables:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in sorted(set(tables)):
                    if table.replace("_", "").isalnum():
                        conn.exec_driver_sql(f'VACUUM (ANALYZE) "{table}"')
            done = {"vacuumed": sorted(set(tables))}
    except Exception as exc:  # the erasure is committed; the clean-up is best effort
        done = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    done["seconds"] = round(time.perf_counter() - started, 3)
    if request_id is not None:
        with container.uow() as uow:
            row = uow.session.get(DataSubjectRequest, request_id)
            if row is not None:
                row.report = {**(row.report or {}), "maintenance": done}
                uow.commit()
    return done


# ---- the ledger after a restore ----------------------------------------------------------


@dataclass(frozen=True)
class Reapplied:
    subject: str  # pseudonym
    erased: dict[str, int]


def reapply(container: Container, actor: Actor = SYSTEM, batch: int = 5000) -> list[Reapplied]:
    """Erase again every contact or lead whose identifiers are on the suppression ledger
    (run after restoring a backup taken before an erasure: RELIABILITY item 14)."""
    secret = container.settings.secret_key
    with container.session_factory() as session:
        ledger = set(session.scalars(select(Suppression.key_hash)))
        if not ledger:
            return []
        hits: list[str] = []
        for name, model in (("contacts", Contact), ("leads", Lead)):
            custom_fields = suppression.custom_identifier_fields(session, name)
            columns = [model.id, *(getattr(model, f) for f in suppression.IDENTIFIER_FIELDS[name]),
                       model.custom]
            last = 0
            while True:
                rows = list(session.execute(select(*columns).where(model.id > last)
                                            .order_by(model.id).limit(batch)).mappings())
                if not rows:
                    break
                last = rows[-1]["id"]
                for row in rows:
                    keys = suppression.record_keys(secret, name, dict(row), custom_fields)
                    if any(k in ledger for k in keys.values()):
                        hits.append(f"{name}:{row['id']}")
    done: list[Reapplied] = []
    erased_refs: set[str] = set()
    for ref in hits:
        if ref in erased_refs:
            continue
        with erasure_session(container) as session:
            session.execute(update(DataSubjectRequest).where(DataSubjectRequest.id == -1)
                            .values(updated_at=utcnow()))  # take the write lock first (SQLite)
            try:
                subject = erasure.resolve_subject(session, secret, ref, lock=True)
            except NotFound:
                continue
            result = erasure.erase_subject(session, secret, subject, request_id=None)
            audit.append(session, secret, "dsr_erasure", actor=audit.actor_ref(actor.user_id),
                         target=result.subject,
                         details={"reapplied": True, "erased": result.erased,
                                  "records": {t: len(ids) for t, ids in result.records.items()}})
            session.commit()
        erased_refs.update(subject.refs)
        done.append(Reapplied(result.subject, result.erased))
    if done:
        for callback in container.on_commit:
            callback()
        maintain(container, None, sorted({t for table in erasure.TOUCHED.values() for t in table}))
    return done
