"""One person across every store that can hold their data: find, export, erase.

A data-subject request names one contact or lead; ``resolve_subject`` widens it to the
person: every contact and lead with the same e-mail address, the lead a contact was
converted from (and back), and what is *about* them (their activities, tasks and tickets,
plus the activities and tasks of those tickets). Each store is a small object with a
``name``, ``find``, ``export`` and ``erase``; the registry ``STORES`` lists them in erase
order, so a later store (events, profiles, identities, dead letters, features, AI outputs)
plugs in with ``register_store`` instead of another ``if``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar, cast

import orjson
from sqlalchemy import Table, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from rapport.crm.changes import ChangeRecord
from rapport.crm.models import (
    Activity,
    Contact,
    CustomFieldDefinition,
    CustomObjectType,
    CustomRecord,
    Lead,
    Opportunity,
    Quote,
    SavedView,
    Task,
    Ticket,
)
from rapport.db.base import utcnow
from rapport.db.idempotency import IdempotencyKey
from rapport.errors import Conflict, NotFound, ValidationFailed
from rapport.events.models import OutboxMessage
from rapport.trust import suppression
from rapport.trust.models import AuditEntry, ConsentRecord, DataSubjectRequest, Suppression
from rapport.trust.pseudonym import pseudonym

PERSON_TABLES = ("contacts", "leads")
OWNED_TABLES = ("tickets", "activities", "tasks")  # about the person: deleted with them
SEARCHED_TABLES = ("contacts", "leads", "activities", "tasks", "tickets")
MAX_PEOPLE = 50  # records one request may cover (shared addresses must be looked at first)
ERASED = "[erased]"
ERASURE_TOPIC = "privacy.subject_erased"
_CHUNK = 500
T = TypeVar("T", int, str)

_MODELS: dict[str, Any] = {
    "contacts": Contact, "leads": Lead, "activities": Activity, "tasks": Task, "tickets": Ticket,
}


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _chunks(ids: Iterable[T], size: int = _CHUNK) -> Iterator[list[T]]:
    items = sorted(ids)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def plain(value: Any) -> Any:
    """A JSON-ready value (exports, reports)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _rows(session: Session, stmt: Any) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in row.items()} for row in session.execute(stmt).mappings()]


def parse_ref(ref: str) -> tuple[str, int]:
    """``contacts:12`` -> ("contacts", 12); anything else is refused with what to send."""
    table, sep, raw = (ref or "").strip().partition(":")
    if not sep or table not in PERSON_TABLES or not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**63:
        raise ValidationFailed(
            "The subject must name a contact or lead record, e.g. contacts:12 or leads:5"
        )
    return table, int(raw)


# ---- the subject -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """The person as the database holds them: record ids per table and their identifiers."""

    primary: str
    records: Mapping[str, tuple[int, ...]]
    people: Mapping[str, tuple[Mapping[str, Any], ...]]  # identifier columns of person rows
    account_ids: frozenset[int] = frozenset()
    secret: str = field(default="", repr=False)

    def ids(self, table: str) -> tuple[int, ...]:
        return self.records.get(table, ())

    @property
    def refs(self) -> list[str]:
        return [f"{t}:{i}" for t in PERSON_TABLES for i in self.ids(t)]

    @property
    def pseudonyms(self) -> list[str]:
        return [pseudonym(self.secret, t, i) for t in PERSON_TABLES for i in self.ids(t)]

    @property
    def primary_pseudonym(self) -> str:
        table, rid = parse_ref(self.primary)
        return pseudonym(self.secret, table, rid)

    def _values(self, *names: str) -> set[str]:
        return {str(row[n]) for rows in self.people.values() for row in rows
                for n in names if row.get(n)}

    @property
    def emails(self) -> set[str]:
        return {e.lower() for e in self._values("email")}

    @property
    def phones(self) -> set[str]:
        return self._values("phone", "mobile")

    @property
    def external_ids(self) -> set[str]:
        return {str(row["external_id"]) for rows in self.people.values() for row in rows
                if row.get("external_id")}

    @property
    def names(self) -> set[str]:
        names: set[str] = set()
        for rows in self.people.values():
            for row in rows:
                first, last = row.get("first_name") or "", row.get("last_name") or ""
                for name in (f"{first} {last}", f"{last}{first}", f"{last} {first}"):
                    if first and last:
                        names.add(name.casefold())
        return names

    def phone_digits(self) -> set[str]:
        """Digits of each phone with and without its country code (7 digits at least)."""
        digits: set[str] = set()
        for phone in self.phones:
            full = re.sub(r"\D", "", phone)
            digits.add(full)
            try:
                import phonenumbers

                national = str(phonenumbers.parse(phone).national_number)
                if len(national) >= 7:
                    digits.add(national)
            except Exception:  # noqa: S112 - an unparsable stored phone keeps its full digits
                continue
        return {d for d in digits if len(d) >= 7}


def _person_rows(session: Session, table: str, ids: Iterable[int], lock: bool) -> list[dict[str, Any]]:
    model = _MODELS[table]
    columns = [model.id, model.email, model.phone, model.external_id, model.first_name,
               model.last_name, model.custom]
    if table == "contacts":
        columns += [Contact.mobile, Contact.account_id]
    else:
        columns += [Lead.converted_contact_id]
    stmt = select(*columns).where(model.id.in_(list(ids)))
    if lock:
        stmt = stmt.with_for_update()
    return [dict(r) for r in session.execute(stmt).mappings()]


def resolve_subject(session: Session, secret: str, ref: str, *, lock: bool = False) -> Subject:
    """The person behind ``ref``; ``lock`` (erasure) locks their rows until commit.

    Contacts and leads sharing an e-mail address are the same person here (the suppression
    ledger would refuse them anyway); phones are not used to widen, since switchboard
    numbers are shared by colleagues.
    """
    table, record_id = parse_ref(ref)
    known: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in PERSON_TABLES}
    pending: dict[str, set[int]] = {t: set() for t in PERSON_TABLES}
    pending[table].add(record_id)
    for _round in range(10):
        for t in PERSON_TABLES:
            wanted = pending[t] - known[t].keys()
            if wanted:
                for row in _person_rows(session, t, wanted, lock):
                    known[t][row["id"]] = row
        if record_id not in known[table]:
            raise NotFound(f"No {table[:-1]} with id {record_id}")
        emails = {r["email"] for rows in known.values() for r in rows.values() if r.get("email")}
        contact_ids = set(known["contacts"])
        converted = {r["converted_contact_id"] for r in known["leads"].values()
                     if r.get("converted_contact_id")}
        found: dict[str, set[int]] = {t: set() for t in PERSON_TABLES}
        for email_chunk in _chunks(emails):
            found["contacts"] |= set(session.scalars(select(Contact.id).where(Contact.email.in_(email_chunk))))
            found["leads"] |= set(session.scalars(select(Lead.id).where(Lead.email.in_(email_chunk))))
        found["contacts"] |= converted
        if contact_ids:
            found["leads"] |= set(session.scalars(
                select(Lead.id).where(Lead.converted_contact_id.in_(contact_ids))))
        pending = {t: found[t] - known[t].keys() for t in PERSON_TABLES}
        if sum(len(v) for v in known.values()) + sum(len(v) for v in pending.values()) > MAX_PEOPLE:
            raise Conflict(
                f"More than {MAX_PEOPLE} contacts and leads share this person's e-mail address; "
                "merge or correct them first"
            )
        if not any(pending.values()):
            break
    contacts = tuple(sorted(known["contacts"]))
    leads = tuple(sorted(known["leads"]))
    records: dict[str, tuple[int, ...]] = {"contacts": contacts, "leads": leads}
    ticket_stmt = select(Ticket.id).where(Ticket.contact_id.in_(contacts)) if contacts else None
    tickets: tuple[int, ...] = ()
    if ticket_stmt is not None:
        if lock:
            ticket_stmt = ticket_stmt.with_for_update()
        tickets = tuple(sorted(session.scalars(ticket_stmt)))
    records["tickets"] = tickets
    for model in (Activity, Task):
        conditions = []
        if contacts:
            conditions.append(model.contact_id.in_(contacts))
        if leads:
            conditions.append(model.lead_id.in_(leads))
        ids: set[int] = set()
        for chunk in _chunks(tickets) if tickets else [[]]:
            clause = [*conditions, model.ticket_id.in_(chunk)] if chunk else conditions
            if clause:
                ids |= set(session.scalars(select(model.id).where(or_(*clause))))
        records[str(_table(model).name)] = tuple(sorted(ids))
    accounts = frozenset(r["account_id"] for r in known["contacts"].values() if r.get("account_id"))
    people = {t: tuple(known[t][i] for i in sorted(known[t])) for t in PERSON_TABLES}
    return Subject(primary=f"{table}:{record_id}", records=records, people=people,
                   account_ids=accounts, secret=secret)


# ---- stores ------------------------------------------------------------------------------


class Store(Protocol):
    """Somewhere a person's data can be held."""

    @property
    def name(self) -> str: ...

    @property
    def holds(self) -> str:  # what the store holds about a person (docs, UI)
        ...

    @property
    def action(self) -> str:  # what erasure does there
        ...

    @property
    def erases(self) -> bool:  # False: kept on purpose (the audit log), never residue
        ...

    def find(self, session: Session, subject: Subject) -> int: ...

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]: ...

    def erase(self, session: Session, subject: Subject) -> int: ...


@dataclass(frozen=True)
class RecordStore:
    """A record table whose rows are the person or about them: rows are deleted."""

    name: str
    holds: str
    action: str = "deleted"
    erases: bool = True

    @property
    def table(self) -> Table:
        return _table(_MODELS[self.name])

    def find(self, session: Session, subject: Subject) -> int:
        ids = subject.ids(self.name)
        return sum(int(session.scalar(select(func.count()).select_from(self.table)
                                      .where(self.table.c.id.in_(chunk))) or 0)
                   for chunk in _chunks(ids))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in _chunks(subject.ids(self.name)):
            out += _rows(session, select(self.table).where(self.table.c.id.in_(chunk))
                         .order_by(self.table.c.id))
        return out

    def erase(self, session: Session, subject: Subject) -> int:
        erased = 0
        for chunk in _chunks(subject.ids(self.name)):
            result = session.execute(delete(self.table).where(self.table.c.id.in_(chunk)))
            erased += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return erased


@dataclass(frozen=True)
class DetachStore:
    """An account's record that names the person as its contact: the reference is removed."""

    name: str
    holds: str
    action: str = "contact reference removed (the record belongs to the account)"
    erases: bool = True

    @property
    def model(self) -> Any:
        return {"opportunities": Opportunity, "quotes": Quote}[self.name]

    def _where(self, subject: Subject) -> Any:
        return self.model.contact_id.in_(subject.ids("contacts"))

    def find(self, session: Session, subject: Subject) -> int:
        if not subject.ids("contacts"):
            return 0
        return int(session.scalar(select(func.count()).select_from(self.model).where(self._where(subject))) or 0)

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        if not subject.ids("contacts"):
            return []
        table = _table(self.model)
        return _rows(session, select(table).where(self._where(subject)).order_by(table.c.id))

    def erase(self, session: Session, subject: Subject) -> int:
        if not subject.ids("contacts"):
            return 0
        result = session.execute(
            update(self.model).where(self._where(subject))
            .values(contact_id=None, version=self.model.version + 1, updated_at=utcnow())
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _custom_reference_targets(session: Session) -> list[tuple[Table, Any, str, str]]:
    """(table, extra condition, field name, referenced object) per custom reference field
    that may point at a contact or lead."""
    from rapport.crm.registry import OBJECTS

    targets: list[tuple[Table, Any, str, str]] = []
    rows = session.execute(select(CustomFieldDefinition.object_type, CustomFieldDefinition.name,
                                  CustomFieldDefinition.reference_object)
                           .where(CustomFieldDefinition.reference_object.in_(PERSON_TABLES)))
    for object_type, name, reference in rows:
        if object_type in OBJECTS:
            targets.append((_table(OBJECTS[object_type].model), None, name, reference))
        else:
            type_id = session.scalar(select(CustomObjectType.id).where(CustomObjectType.name == object_type))
            if type_id is not None:
                table = _table(CustomRecord)
                targets.append((table, table.c.object_type_id == type_id, name, reference))
    return targets


@dataclass(frozen=True)
class CustomReferenceStore:
    name: str = "custom_references"
    holds: str = "custom reference fields of other records that point at the person"
    action: str = "reference cleared"
    erases: bool = True

    def _matches(self, session: Session, subject: Subject) -> list[tuple[Table, str, list[int]]]:
        found: list[tuple[Table, str, list[int]]] = []
        for table, extra, name, reference in _custom_reference_targets(session):
            ids = subject.ids(reference)
            if not ids:
                continue
            condition = table.c.custom[name].as_integer().in_(ids)
            if extra is not None:
                condition = condition & extra
            if table.name in subject.records:  # rows deleted anyway
                condition = condition & table.c.id.not_in(subject.ids(table.name) or [0])
            rows = list(session.scalars(select(table.c.id).where(condition)))
            if rows:
                found.append((table, name, rows))
        return found

    def find(self, session: Session, subject: Subject) -> int:
        return sum(len(ids) for _, _, ids in self._matches(session, subject))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        return [{"table": t.name, "field": name, "record_id": rid}
                for t, name, ids in self._matches(session, subject) for rid in ids]

    def erase(self, session: Session, subject: Subject) -> int:
        erased = 0
        for table, name, ids in self._matches(session, subject):
            for row in session.execute(select(table.c.id, table.c.custom, table.c.version)
                                       .where(table.c.id.in_(ids))):
                custom = dict(row.custom or {})
                custom[name] = None
                session.execute(update(table).where(table.c.id == row.id).values(
                    custom=custom, version=row.version + 1, updated_at=utcnow()))
                erased += 1
        return erased


def scrub(value: Any, needles: Iterable[str]) -> Any:
    """``value`` with every occurrence of a needle (case-insensitive) replaced by [erased]."""
    patterns = [re.escape(n) for n in needles if n]
    if not patterns:
        return value
    pattern = re.compile("|".join(sorted(patterns, key=len, reverse=True)), re.IGNORECASE)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return pattern.sub(ERASED, v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    return walk(value)


@dataclass(frozen=True)
class ParticipantStore:
    """Activities of the person's accounts that list them as a participant (not deleted
    with them): the participant entry and its trace in that activity's history are scrubbed."""

    name: str = "activity_participants"
    holds: str = ("participant lists of other activities on the person's accounts "
                  "(their e-mail, phone or name)")
    action: str = "participant replaced by [erased], also in those activities' history"
    erases: bool = True

    def _needles(self, subject: Subject) -> list[str]:
        return sorted(subject.emails | subject.phones | subject.names)

    def _matches(self, session: Session, subject: Subject) -> list[tuple[int, list[Any]]]:
        if not subject.account_ids:
            return []
        needles = [n.casefold() for n in self._needles(subject)]
        owned = set(subject.ids("activities"))
        found: list[tuple[int, list[Any]]] = []
        stmt = select(Activity.id, Activity.participants).where(
            Activity.account_id.in_(sorted(subject.account_ids)))
        for rid, participants in session.execute(stmt):
            if rid in owned or not participants:
                continue
            if any(isinstance(p, str) and any(n in p.casefold() for n in needles)
                   for p in participants):
                found.append((rid, list(participants)))
        return found

    def find(self, session: Session, subject: Subject) -> int:
        return len(self._matches(session, subject))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        return [{"activity_id": rid, "participants": p} for rid, p in self._matches(session, subject)]

    def erase(self, session: Session, subject: Subject) -> int:
        needles = self._needles(subject)
        matches = self._matches(session, subject)
        for rid, participants in matches:
            session.execute(update(Activity).where(Activity.id == rid).values(
                participants=scrub(participants, needles), version=Activity.version + 1,
                updated_at=utcnow()))
        ids = [rid for rid, _ in matches]
        for chunk in _chunks(ids):
            for row in session.execute(select(ChangeRecord.id, ChangeRecord.changes).where(
                    ChangeRecord.object_type == "activities", ChangeRecord.record_id.in_(chunk))):
                cleaned = scrub(row.changes, needles)
                if cleaned != row.changes:
                    session.execute(update(ChangeRecord).where(ChangeRecord.id == row.id)
                                    .values(changes=cleaned))
            for row in session.execute(select(OutboxMessage.id, OutboxMessage.payload).where(
                    _outbox_about("activities", chunk))):
                cleaned = scrub(row.payload, needles)
                if cleaned != row.payload:
                    session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                                    .values(payload=cleaned))
        return len(matches)


def _deleted(subject: Subject) -> list[tuple[str, tuple[int, ...]]]:
    return [(t, subject.ids(t)) for t in (*PERSON_TABLES, *OWNED_TABLES) if subject.ids(t)]


@dataclass(frozen=True)
class ChangeRecordStore:
    name: str = "change_records"
    holds: str = "the history of every write to the person's records (before and after values)"
    action: str = "deleted"
    erases: bool = True

    def _where(self, table: str, chunk: list[int]) -> Any:
        return (ChangeRecord.object_type == table) & ChangeRecord.record_id.in_(chunk)

    def find(self, session: Session, subject: Subject) -> int:
        return sum(int(session.scalar(select(func.count()).select_from(ChangeRecord)
                                      .where(self._where(t, c))) or 0)
                   for t, ids in _deleted(subject) for c in _chunks(ids))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        table = _table(ChangeRecord)
        return [row for t, ids in _deleted(subject) for c in _chunks(ids)
                for row in _rows(session, select(table).where(self._where(t, c)).order_by(table.c.id))]

    def erase(self, session: Session, subject: Subject) -> int:
        erased = 0
        for t, ids in _deleted(subject):
            for chunk in _chunks(ids):
                result = session.execute(delete(ChangeRecord).where(self._where(t, chunk)))
                erased += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return erased


def _outbox_about(table: str, ids: list[int]) -> Any:
    return (OutboxMessage.payload["object"].as_string() == table) & (
        OutboxMessage.payload["id"].as_integer().in_(ids))


def _outbox_ids(session: Session, subject: Subject) -> list[int]:
    """Outbox rows about the person's records, in one pass over the outbox per 10,000 ids.

    The outbox has no index on its payload: one scan comparing the payload's id costs about
    1 µs a row (0.5 s for 400,000 events on SQLite); the object name is checked here.
    """
    pairs = {(t, i) for t, ids in _deleted(subject) for i in ids}
    if not pairs:
        return []
    object_name = OutboxMessage.payload["object"].as_string()
    record_id = OutboxMessage.payload["id"].as_integer()
    found: list[int] = []
    for chunk in _chunks({i for _, i in pairs}, 10_000):
        rows = session.execute(select(OutboxMessage.id, object_name, record_id)
                               .where(record_id.in_(chunk)))
        found += [oid for oid, name, rid in rows if (name, rid) in pairs]
    return sorted(found)


@dataclass(frozen=True)
class OutboxStore:
    name: str = "outbox"
    holds: str = "domain events about the person's records (each carries the changed values)"
    action: str = "deleted (published or not)"
    erases: bool = True

    def find(self, session: Session, subject: Subject) -> int:
        return len(_outbox_ids(session, subject))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        table = _table(OutboxMessage)
        return [row for c in _chunks(_outbox_ids(session, subject))
                for row in _rows(session, select(table).where(table.c.id.in_(c)).order_by(table.c.id))]

    def erase(self, session: Session, subject: Subject) -> int:
        erased = 0
        for chunk in _chunks(_outbox_ids(session, subject)):
            result = session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(chunk)))
            erased += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return erased


@dataclass(frozen=True)
class SearchIndexStore:
    """The full-text index (``search_<table>``): on SQLite the FTS5 index is optimised after
    the delete so no token of the person survives in its segments."""

    name: str = "search_index"
    holds: str = "full-text documents of the person's records (every searchable value)"
    action: str = "deleted; SQLite FTS5 indexes are optimised (merged) afterwards"
    erases: bool = True

    @staticmethod
    def _key(session: Session) -> str:
        return "rowid" if session.get_bind().dialect.name == "sqlite" else "record_id"

    def _targets(self, subject: Subject) -> list[tuple[str, tuple[int, ...]]]:
        return [(t, subject.ids(t)) for t in SEARCHED_TABLES if subject.ids(t)]

    def find(self, session: Session, subject: Subject) -> int:
        key = self._key(session)
        total = 0
        for t, ids in self._targets(subject):
            for chunk in _chunks(ids):
                marks = ",".join(str(int(i)) for i in chunk)
                total += int(session.execute(text(
                    f"SELECT count(*) FROM search_{t} WHERE {key} IN ({marks})")).scalar() or 0)  # noqa: S608
        return total

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        key = self._key(session)
        out: list[dict[str, Any]] = []
        for t, ids in self._targets(subject):
            for chunk in _chunks(ids):
                marks = ",".join(str(int(i)) for i in chunk)
                for rid, body in session.execute(text(
                        f"SELECT {key}, body FROM search_{t} WHERE {key} IN ({marks}) ORDER BY 1")):  # noqa: S608
                    out.append({"index": f"search_{t}", "record_id": rid, "body": body})
        return out

    def erase(self, session: Session, subject: Subject) -> int:
        key = self._key(session)
        erased = 0
        touched = []
        for t, ids in self._targets(subject):
            for chunk in _chunks(ids):
                marks = ",".join(str(int(i)) for i in chunk)
                result = session.execute(text(f"DELETE FROM search_{t} WHERE {key} IN ({marks})"))  # noqa: S608
                erased += int(result.rowcount or 0)  # type: ignore[attr-defined]
            touched.append(t)
        if session.get_bind().dialect.name == "sqlite":
            for t in touched:  # merge every segment: deleted documents' tokens are dropped
                session.execute(text(f"INSERT INTO search_{t}(search_{t}) VALUES ('optimize')"))  # noqa: S608
        return erased


_BODY_ID = re.compile(r'"id":(\d+)')


def _json_needles(subject: Subject) -> list[str]:
    """How the person's identifiers appear inside stored JSON text."""
    needles = [orjson.dumps(v).decode()[1:-1] for v in subject.emails | subject.phones if v]
    # quoted, so only the exact value matches: external ids, and record references
    # ("contacts:12") as answers about the person carry them (consent decisions)
    needles += [orjson.dumps(v).decode() for v in [*subject.external_ids, *subject.refs]]
    return [n for n in needles if n]


@dataclass(frozen=True)
class IdempotencyStore:
    """Stored API answers (``Idempotency-Key``): the body of a create is the whole record."""

    name: str = "idempotency_keys"
    holds: str = ("stored API answers (kept for replays) that are one of the person's records "
                  "or contain their e-mail, phone or external id")
    action: str = "deleted (a retry of that call would run again)"
    erases: bool = True

    def _matches(self, session: Session, subject: Subject) -> list[int]:
        needles = _json_needles(subject)
        deleted = {t: set(ids) for t, ids in _deleted(subject)}
        every_id = set().union(*deleted.values()) if deleted else set()
        shapes = {t: set(_table(_MODELS[t]).c.keys()) for t in deleted}
        found: list[int] = []
        stmt = select(IdempotencyKey.id, IdempotencyKey.response_body).execution_options(yield_per=500)
        for key_id, body in session.execute(stmt):
            if any(n in body for n in needles):
                found.append(key_id)
                continue
            if not every_id or not {int(m) for m in _BODY_ID.findall(body)} & every_id:
                continue
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                continue
            if isinstance(parsed, dict) and parsed.get("id") in every_id and any(
                    parsed["id"] in deleted[t] and shapes[t] <= parsed.keys() for t in deleted):
                found.append(key_id)
        return found

    def find(self, session: Session, subject: Subject) -> int:
        return len(self._matches(session, subject))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        table = _table(IdempotencyKey)
        ids = self._matches(session, subject)
        return [row for c in _chunks(ids) for row in _rows(
            session, select(table.c.id, table.c.created_at, table.c.status_code, table.c.response_body)
            .where(table.c.id.in_(c)).order_by(table.c.id))]

    def erase(self, session: Session, subject: Subject) -> int:
        erased = 0
        for chunk in _chunks(self._matches(session, subject)):
            result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(chunk)))
            erased += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return erased


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)


@dataclass(frozen=True)
class SavedViewStore:
    """Users' saved list views whose filters or search name the person (typed values)."""

    name: str = "saved_views"
    holds: str = "users' saved list views whose filter or search holds the person's e-mail, phone or external id"
    action: str = "deleted (the view's owner saves it again without the value)"
    erases: bool = True

    def _matches(self, session: Session, subject: Subject) -> list[int]:
        emails = {e.casefold() for e in subject.emails}
        digits = subject.phone_digits()
        external = subject.external_ids
        found: list[int] = []
        for view_id, name, query in session.execute(select(SavedView.id, SavedView.name, SavedView.query)):
            for s in _strings([name, query]):
                folded = s.casefold()
                only_digits = re.sub(r"\D", "", s)
                tokens = set(re.split(r"[\s:,;|]+", s))
                if (any(e in folded for e in emails)
                        or (len(only_digits) >= 7 and any(d in only_digits for d in digits))
                        or tokens & external):
                    found.append(view_id)
                    break
        return found

    def find(self, session: Session, subject: Subject) -> int:
        return len(self._matches(session, subject))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        table = _table(SavedView)
        ids = self._matches(session, subject)
        return _rows(session, select(table.c.id, table.c.object_type, table.c.name, table.c.query)
                     .where(table.c.id.in_(ids)).order_by(table.c.id)) if ids else []

    def erase(self, session: Session, subject: Subject) -> int:
        ids = self._matches(session, subject)
        if not ids:
            return 0
        result = session.execute(delete(SavedView).where(SavedView.id.in_(ids)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ConsentStore:
    name: str = "consents"
    holds: str = "consent decisions recorded for the person (purpose, status, evidence)"
    action: str = "deleted"
    erases: bool = True

    def _where(self, subject: Subject) -> Any:
        return ConsentRecord.subject.in_([*subject.refs, *subject.pseudonyms])

    def find(self, session: Session, subject: Subject) -> int:
        return int(session.scalar(select(func.count()).select_from(ConsentRecord).where(self._where(subject))) or 0)

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        table = _table(ConsentRecord)
        return _rows(session, select(table).where(self._where(subject)).order_by(table.c.id))

    def erase(self, session: Session, subject: Subject) -> int:
        result = session.execute(delete(ConsentRecord).where(self._where(subject)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AuditStore:
    """The hash-chained audit log names people by pseudonym only; it is never edited."""

    name: str = "audit_log"
    holds: str = "audit entries whose target is the person's pseudonym (no clear values)"
    action: str = "kept: pseudonyms only, and the chain must stay verifiable"
    erases: bool = False

    def _where(self, subject: Subject) -> Any:
        return AuditEntry.target.in_(subject.pseudonyms)

    def find(self, session: Session, subject: Subject) -> int:
        return int(session.scalar(select(func.count()).select_from(AuditEntry).where(self._where(subject))) or 0)

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        table = _table(AuditEntry)
        return _rows(session, select(table.c.id, table.c.at, table.c.action, table.c.actor,
                                     table.c.target, table.c.details)
                     .where(self._where(subject)).order_by(table.c.id))

    def erase(self, session: Session, subject: Subject) -> int:
        return 0


@dataclass(frozen=True)
class RequestStore:
    """The person's own data-subject requests: the proof that a request was answered."""

    name: str = "dsr_requests"
    holds: str = "the person's data-subject requests (kind, law, dates, status)"
    action: str = "kept: record ids and a pseudonym only, as evidence the request was handled"
    erases: bool = False

    def _where(self, subject: Subject) -> Any:
        return or_(DataSubjectRequest.subject.in_(subject.refs),
                   DataSubjectRequest.subject_pseudonym.in_(subject.pseudonyms))

    def find(self, session: Session, subject: Subject) -> int:
        return int(session.scalar(select(func.count()).select_from(DataSubjectRequest)
                                  .where(self._where(subject))) or 0)

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        t = _table(DataSubjectRequest)
        return _rows(session, select(t.c.id, t.c.kind, t.c.law, t.c.status, t.c.received_at,
                                     t.c.due_at, t.c.completed_at)
                     .where(self._where(subject)).order_by(t.c.id))

    def erase(self, session: Session, subject: Subject) -> int:
        return 0


STORES: list[Store] = [
    # about the person first (their rows reference the person's), then the person
    RecordStore("activities", "e-mails, calls, meetings and notes with the person or on their tickets"),
    RecordStore("tasks", "tasks about the person or their tickets"),
    RecordStore("tickets", "support tickets the person raised"),
    DetachStore("opportunities", "deals of the person's account where they are the primary contact"),
    DetachStore("quotes", "quotes of the person's account addressed to them"),
    CustomReferenceStore(),
    ParticipantStore(),
    RecordStore("leads", "the person as a lead: name, e-mail, phone, company, notes, custom fields"),
    RecordStore("contacts", "the person as a contact: name, e-mail, phones, job, notes, custom fields"),
    ChangeRecordStore(),
    OutboxStore(),
    SearchIndexStore(),
    IdempotencyStore(),
    SavedViewStore(),
    ConsentStore(),
    AuditStore(),
    RequestStore(),
]


def register_store(store: Store, *, before: str | None = None) -> None:
    """Add a store (a later issue's events, profiles, identities...) to find/export/erase."""
    if any(s.name == store.name for s in STORES):
        raise ValueError(f"a store named {store.name!r} is already registered")
    if before is None:
        STORES.append(store)
        return
    index = next(i for i, s in enumerate(STORES) if s.name == before)
    STORES.insert(index, store)


def find_all(session: Session, subject: Subject) -> dict[str, int]:
    return {s.name: s.find(session, subject) for s in STORES}


def export_all(session: Session, subject: Subject) -> dict[str, list[dict[str, Any]]]:
    return {s.name: s.export(session, subject) for s in STORES}


# ---- erasure -----------------------------------------------------------------------------


@dataclass
class ErasureResult:
    subject: str  # pseudonym of the requested record
    found: dict[str, int]
    erased: dict[str, int]
    residue: dict[str, int]
    kept: dict[str, int]
    suppressed: dict[str, int]  # new ledger keys per kind
    shared_phones: int  # phones not suppressed: other records still hold them
    records: dict[str, list[int]]
    seconds: float = 0.0
    touched_tables: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(self.residue.values())

    def report(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "records": {t: len(ids) for t, ids in self.records.items()},
            "stores": {
                s.name: {"found": self.found.get(s.name, 0), "erased": self.erased.get(s.name, 0),
                         "residue": self.residue.get(s.name, 0), "action": s.action}
                for s in STORES
            },
            "kept": self.kept,
            "suppressed": self.suppressed,
            "shared_phones_not_suppressed": self.shared_phones,
            "residue_check": "clean" if self.clean else "residue found",
            "seconds": round(self.seconds, 3),
        }


TOUCHED = {
    "activities": ["activities", "search_activities"], "tasks": ["tasks", "search_tasks"],
    "tickets": ["tickets", "search_tickets"], "opportunities": ["opportunities"],
    "quotes": ["quotes"], "activity_participants": ["activities", "change_records"],
    "leads": ["leads", "search_leads"], "contacts": ["contacts", "search_contacts"],
    "change_records": ["change_records"], "outbox": ["outbox"],
    "idempotency_keys": ["idempotency_keys"], "saved_views": ["saved_views"],
    "consents": ["consents"],
}


def erase_subject(session: Session, secret: str, subject: Subject, *, request_id: int | None) -> ErasureResult:
    """Erase the person from every store, suppress their identifiers and check for residue,
    all in the caller's transaction (nothing is committed here)."""
    started = time.perf_counter()
    found = find_all(session, subject)
    identifiers = set()
    for table, rows in subject.people.items():
        identifiers |= suppression.identifiers_of(
            secret, table, rows, suppression.custom_identifier_fields(session, table))
    erased: dict[str, int] = {}
    touched: set[str] = set()
    for store in STORES:
        if store.erases:
            erased[store.name] = store.erase(session, subject)
            if erased[store.name]:
                touched.update(TOUCHED.get(store.name, []))
    # A phone someone else still holds (a switchboard) is not suppressed: it would lock them out.
    shared = _phones_still_held(session, subject.phones)
    shared_keys = {suppression.suppression_key(secret, "contacts", "phone", p) for p in shared}
    wanted = {i for i in identifiers if i.key_hash not in shared_keys}
    suppressed: dict[str, int] = dict.fromkeys(suppression.KINDS, 0)
    present = set(session.scalars(select(Suppression.key_hash)
                                  .where(Suppression.key_hash.in_([i.key_hash for i in wanted]))))
    for ident in wanted:
        if ident.key_hash not in present:
            suppressed[ident.kind] += 1
    suppression.add_to_ledger(session, wanted, request_id)
    session.execute(insert(_table(OutboxMessage)), [{
        "topic": ERASURE_TOPIC,
        "payload": {"subject": subject.primary_pseudonym, "request_id": request_id,
                    "records": {t: list(ids) for t, ids in subject.records.items() if ids},
                    "occurred_at": utcnow().isoformat()},
        "created_at": utcnow(), "attempts": 0,
    }])
    residue = {s.name: s.find(session, subject) for s in STORES if s.erases}
    kept = {s.name: found[s.name] for s in STORES if not s.erases}
    return ErasureResult(
        subject=subject.primary_pseudonym, found=found, erased=erased, residue=residue, kept=kept,
        suppressed=suppressed, shared_phones=len(shared),
        records={t: list(ids) for t, ids in subject.records.items()},
        seconds=time.perf_counter() - started, touched_tables=sorted(touched),
    )


def _phones_still_held(session: Session, phones: set[str]) -> set[str]:
    if not phones:
        return set()
    held: set[str] = set()
    for column in (Contact.phone, Contact.mobile, Lead.phone):
        held |= set(session.scalars(select(column).where(column.in_(sorted(phones)))))
    return held & phones


# The data hub's stores register themselves here, so every erasure reaches them.
import rapport.events.erasure_stores  # noqa: E402,F401
import rapport.profiles.erasure  # noqa: E402,F401
