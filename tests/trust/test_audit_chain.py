"""The audit chain: any edit, deletion, reordering, insertion or truncation is detected.

Every test runs on SQLite and, when configured, on PostgreSQL. Tampering goes straight to
the tables with SQL, as an attacker with database access would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from rapport.bootstrap import Container
from rapport.trust import audit
from rapport.trust.models import AuditEntry, AuditHead

LOG = AuditEntry.__table__
HEAD = AuditHead.__table__
COLUMNS = ["id", "at", "action", "actor", "target", "network", "details", "prev_hash", "hash"]
ENTRIES = 20


def write_chain(container: Container, count: int = ENTRIES) -> list[int]:
    """``count`` entries over several transactions, with awkward details; returns their ids."""
    secret = container.settings.secret_key
    ids: list[int] = []
    per_transaction = 4
    for start in range(0, count, per_transaction):
        with container.uow() as uow:
            for n in range(start, min(start + per_transaction, count)):
                entry = audit.append(
                    uow.session, secret, sorted(audit.ACTIONS)[n % len(audit.ACTIONS)],
                    actor=audit.actor_ref(n % 3 or None),
                    target=f"contacts:{n}" if n % 2 else None,
                    network="trusted" if n % 4 else None,
                    details={"n": n, "ratio": 0.1 * n, "big": 1e16, "neg_zero": -0.0,
                             "amount": Decimal("12.50"), "tags": ("a", "b"),
                             "nested": {"z": [1, 2, {"y": "名字"}], "a": None}},
                )
                ids.append(entry.id)
            uow.commit()
    return ids


def verify(container: Container, session: Session | None = None) -> audit.VerifyReport:
    if session is not None:
        return audit.verify(session, container.settings.secret_key)
    with container.session_factory() as fresh:
        return audit.verify(fresh, container.settings.secret_key)


@contextmanager
def tampering(container: Container) -> Iterator[Session]:
    """A session inside a transaction that is rolled back afterwards: a pristine log again."""
    with container.engine.connect() as conn:
        transaction = conn.begin()
        session = Session(bind=conn)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


def row(session: Session, entry_id: int) -> dict[str, Any]:
    return dict(session.execute(select(LOG).where(LOG.c.id == entry_id)).mappings().one())


def kinds_at(report: audit.VerifyReport) -> set[tuple[int | None, str]]:
    return {(p.entry_id, p.kind) for p in report.issues}


@pytest.fixture
def chain(container: Container) -> list[int]:
    return write_chain(container)


# ---- the intact log -----------------------------------------------------------------------


def test_an_intact_log_verifies_with_every_entry_checked(container: Container,
                                                        chain: list[int]) -> None:
    report = verify(container)

    assert report.ok, report.problems
    assert report.checked == ENTRIES
    assert report.last_id == chain[-1]


def test_an_empty_log_verifies(container: Container) -> None:
    report = verify(container)

    assert report.ok
    assert report.checked == 0


def test_timestamps_and_details_read_back_exactly_as_hashed(container: Container) -> None:
    with container.uow() as uow:
        written = audit.append(uow.session, container.settings.secret_key, "export",
                               actor="system", details={"n": 1e16, "z": -0.0, "t": (1, 2),
                                                        "nul": "a\x00b"})
        uow.commit()
        at, entry_id = written.at, written.id

    with container.session_factory() as session:
        [read] = list(audit.iter_entries(session))

    assert read.id == entry_id
    assert read.at == at
    assert read.at.microsecond == at.microsecond
    assert read.details == {"n": 10**16, "z": 0, "t": [1, 2], "nul": "a\ufffdb"}
    assert verify(container).ok


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(details=st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63) + 1, 2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=8,
    ),
    max_size=5,
))
def test_any_json_details_survive_the_database_round_trip(container: Container,
                                                          details: dict[str, Any]) -> None:
    with tampering(container) as session:
        audit.append(session, container.settings.secret_key, "config_changed", actor="system",
                     details=details)
        session.flush()
        session.expunge_all()

        report = verify(container, session)

    assert report.ok, (details, report.problems)


# ---- one tampering at a time, each on a fresh database -------------------------------------


def _edit(column: str, value: Callable[[dict[str, Any]], Any]) -> Callable[[Session, list[int]], int]:
    def tamper(session: Session, ids: list[int]) -> int:
        target = ids[7]
        session.execute(update(LOG).where(LOG.c.id == target).values(
            {column: value(row(session, target))}))
        return target
    return tamper


def _delete(position: int) -> Callable[[Session, list[int]], int]:
    def tamper(session: Session, ids: list[int]) -> int:
        session.execute(delete(LOG).where(LOG.c.id == ids[position]))
        return ids[position]
    return tamper


def _swap(session: Session, ids: list[int]) -> int:
    first, second = row(session, ids[5]), row(session, ids[6])
    content = [c for c in COLUMNS if c != "id"]
    # the hash column is unique: park one row's hash while the other takes it
    session.execute(update(LOG).where(LOG.c.id == ids[5]).values(
        {**{c: second[c] for c in content}, "hash": "parked"}))
    session.execute(update(LOG).where(LOG.c.id == ids[6]).values({c: first[c] for c in content}))
    session.execute(update(LOG).where(LOG.c.id == ids[5]).values(hash=second["hash"]))
    return ids[5]


def _insert_forged(session: Session, ids: list[int]) -> int:
    """Make room after entry 10 and put a well-linked row there, signed with another key."""
    after = ids[9]
    tail = [i for i in ids if i > after]
    session.execute(update(LOG).where(LOG.c.id.in_(tail)).values(id=-LOG.c.id))
    session.execute(update(LOG).where(LOG.c.id < 0).values(id=-LOG.c.id + 1))
    previous = row(session, after)
    forged = audit.Entry(after + 1, previous["at"] + timedelta(seconds=1), "unlock", "user:1",
                         "users:2", None, {"reason": "trust me"}, previous["hash"], "")
    forged_hash = audit.entry_hash("not-the-deployment-key", forged.prev_hash, forged)
    session.execute(insert(LOG).values(
        id=forged.id, at=forged.at, action=forged.action, actor=forged.actor,
        target=forged.target, network=None, details=forged.details,
        prev_hash=forged.prev_hash, hash=forged_hash))
    return forged.id


def _move_head_back(session: Session, ids: list[int]) -> int:
    """Cut the last entry and point the head at the new last one, without the key."""
    session.execute(delete(LOG).where(LOG.c.id == ids[-1]))
    session.execute(update(HEAD).values(last_id=ids[-2], last_hash=row(session, ids[-2])["hash"]))
    return ids[-1]


def _delete_head(session: Session, ids: list[int]) -> int:
    session.execute(delete(HEAD))
    return ids[-1]


TAMPERINGS: dict[str, tuple[Callable[[Session, list[int]], int], str]] = {
    # name: (tamper, the kind of problem expected at the returned entry id, None = the head)
    "edit details": (_edit("details", lambda r: {**r["details"], "n": 999}), "content"),
    "edit action": (_edit("action", lambda r: "logout" if r["action"] != "logout" else "login"),
                    "content"),
    "edit actor": (_edit("actor", lambda r: "user:666"), "content"),
    "edit at by one microsecond": (_edit("at", lambda r: r["at"] + timedelta(microseconds=1)),
                                   "content"),
    "edit prev_hash": (_edit("prev_hash", lambda r: "f" * 64), "link"),
    "edit hash": (_edit("hash", lambda r: "e" * 64), "content"),
    "delete a middle row": (_delete(7), "link"),
    "delete the first row": (_delete(0), "link"),
    "delete the last row": (_delete(-1), "truncated"),
    "swap two rows": (_swap, "content"),
    "insert a forged row": (_insert_forged, "content"),
    "move the head back": (_move_head_back, "head_signature"),
    "delete the head": (_delete_head, "head_missing"),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_each_tampering_is_reported(container: Container, chain: list[int], name: str) -> None:
    tamper, expected_kind = TAMPERINGS[name]
    with container.uow() as uow:
        touched = tamper(uow.session, chain)
        uow.commit()

    report = verify(container)

    assert not report.ok, name
    kinds = {p.kind for p in report.issues}
    assert expected_kind in kinds, (name, report.problems)
    where = {p.entry_id for p in report.issues}
    if name in ("delete a middle row", "delete the first row"):
        assert chain[chain.index(touched) + 1] in where  # the entry after the gap
    elif expected_kind in ("content", "link"):
        assert touched in where


def test_a_deleted_tail_stays_visible_after_later_appends(container: Container,
                                                          chain: list[int]) -> None:
    with container.uow() as uow:
        uow.session.execute(delete(LOG).where(LOG.c.id == chain[-1]))
        uow.commit()
    write_chain(container, 3)

    report = verify(container)

    assert not report.ok
    assert "link" in {p.kind for p in report.issues}


def test_a_forged_head_is_not_healed_by_the_next_append(container: Container,
                                                        chain: list[int]) -> None:
    with container.uow() as uow:
        _move_head_back(uow.session, chain)
        uow.commit()
    write_chain(container, 1)

    report = verify(container)

    assert not report.ok
    assert any("signed head was missing or forged" in p for p in report.problems)


def test_a_different_key_fails_every_entry(container: Container, chain: list[int]) -> None:
    with container.session_factory() as session:
        report = audit.verify(session, "another-deployment's-key", max_problems=5)

    assert report.problem_count == ENTRIES + 1  # every entry, and the head
    assert len(report.issues) == 5
    assert report.as_json()["truncated"] is True


# ---- every column of every row --------------------------------------------------------------


def _changed(column: str, value: Any, salt: int) -> Any:
    if column == "id":
        return value + 1000
    if column == "at":
        return value + timedelta(microseconds=salt + 1)
    if column == "action":
        return next(a for a in sorted(audit.ACTIONS) if a != value)
    if column == "details":
        return {**value, "tampered": salt}
    if column in ("target", "network"):
        return None if value else f"x{salt}"
    return (value or "")[:-1] + ("0" if (value or "x")[-1:] != "0" else "1")


@pytest.mark.parametrize("column", COLUMNS)
def test_editing_any_column_of_any_row_is_detected(container: Container, chain: list[int],
                                                   column: str) -> None:
    for position, entry_id in enumerate(chain):
        with tampering(container) as session:
            original = row(session, entry_id)[column]
            session.execute(update(LOG).where(LOG.c.id == entry_id).values(
                {column: _changed(column, original, position)}))

            report = verify(container, session)

        assert not report.ok, (column, entry_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, ENTRIES - 1), column=st.sampled_from(COLUMNS[1:]),
       replacement=st.one_of(st.text(max_size=30),
                             st.dictionaries(st.text(max_size=5),  # JSON numbers: 53-bit safe
                                             st.integers(-(2**53), 2**53), max_size=3),
                             st.integers(1, 10**6)))
def test_any_replacement_value_is_detected(container: Container, chain: list[int], position: int,
                                           column: str, replacement: Any) -> None:
    entry_id = chain[position]
    with tampering(container) as session:
        original = row(session, entry_id)[column]
        value = _coerce(column, original, replacement)
        if value == original:
            return  # not a change
        session.execute(update(LOG).where(LOG.c.id == entry_id).values({column: value}))

        report = verify(container, session)

    assert not report.ok, (column, entry_id, value)


def _coerce(column: str, original: Any, replacement: Any) -> Any:
    """The replacement as a value the column can hold."""
    if column == "at":
        return original + timedelta(microseconds=hash(str(replacement)) % 10**9 + 1)
    if column == "details":
        return replacement if isinstance(replacement, dict) else {"v": replacement}
    text = str(replacement).replace("\x00", "")
    limits = {"action": 60, "actor": 40, "target": 100, "network": 20, "prev_hash": 64,
              "hash": 64}
    return text[: limits[column]]


# ---- concurrency ----------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [4])
def test_concurrent_appends_form_one_contiguous_chain(container: Container, threads: int) -> None:
    if container.settings.is_sqlite:
        pytest.skip("SQLite has a single writer; the advisory-lock race is PostgreSQL's")
    per_thread = 50
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with container.uow() as uow:
                    uow.session.execute(select(AuditEntry.id).limit(1))  # work before the audit
                    audit.append(uow.session, container.settings.secret_key, "export",
                                 actor=audit.actor_ref(n), details={"i": i})
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()

    assert not errors, errors
    report = verify(container)
    assert report.ok, report.problems
    assert report.checked == threads * per_thread
    with container.session_factory() as session:
        ids = [e.id for e in audit.iter_entries(session)]
    assert ids == list(range(ids[0], ids[0] + threads * per_thread))


def test_concurrent_appends_on_sqlite_also_verify(container: Container) -> None:
    if not container.settings.is_sqlite:
        pytest.skip("covered by the PostgreSQL test above")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                with container.uow() as uow:
                    audit.append(uow.session, container.settings.secret_key, "export",
                                 actor=audit.actor_ref(n), details={"i": i})
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()

    assert not errors, errors
    report = verify(container)
    assert report.ok, report.problems
    assert report.checked == 45


# ---- garbage does not crash the verifier -------------------------------------------------------


@pytest.mark.parametrize(("column", "garbage"), [
    ("hash", "ハッシュ"), ("prev_hash", "ü" * 10), ("at", "yesterday-ish"),
    ("details", "{not json"), ("actor", 42),
])
def test_garbage_in_a_row_is_reported_not_a_crash(container: Container, chain: list[int],
                                                  column: str, garbage: Any) -> None:
    from sqlalchemy import text

    if not container.settings.is_sqlite and column in ("at", "details", "actor"):
        pytest.skip("PostgreSQL refuses values of the wrong type")
    with tampering(container) as session:
        session.execute(text(f"UPDATE audit_log SET {column} = :v WHERE id = :id"),
                        {"v": garbage, "id": chain[3]})

        report = verify(container, session)

    assert (chain[3], "content") in kinds_at(report)


def test_a_garbage_head_is_reported(container: Container, chain: list[int]) -> None:
    from sqlalchemy import text

    with tampering(container) as session:
        session.execute(text("UPDATE audit_head SET signature = :v"), {"v": "署名"})

        report = verify(container, session)

    assert (None, "head_signature") in kinds_at(report)
