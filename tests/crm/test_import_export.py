"""CSV import and export: mapping, upsert, per-row errors, encodings, formulas, resume, streaming."""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from rapport.bootstrap import Container
from rapport.crm import importer as importer_module
from rapport.crm.changes import ChangeRecord
from rapport.crm.custom_objects import define_field
from rapport.crm.exporter import escape_cell, export_csv, unescape_formula
from rapport.crm.importer import (
    Checkpoint,
    CsvImporter,
    ImportAborted,
    ImportOptions,
    ImportResult,
    RowError,
)
from rapport.crm.models import Account, Contact, Product
from rapport.crm.normalise import normalise_email
from rapport.crm.service import SYSTEM
from rapport.db.uow import UnitOfWork
from rapport.errors import Conflict
from rapport.events.models import OutboxMessage


def write_csv(path: Path, rows: list[list[str]], *, bom: bool = False) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))
    return path


def run_import(
    container: Container, path: Path, object_name: str = "contacts", **options: Any
) -> tuple[ImportResult, list[RowError]]:
    errors: list[RowError] = []
    importer = CsvImporter(container.settings, container.uow, container.records, object_name,
                           ImportOptions(**options))
    return importer.run(path, on_error=errors.append), errors


def contacts(container: Container) -> dict[str, Contact]:
    with container.session_factory() as session:
        return {c.external_id or str(c.id): c for c in session.scalars(select(Contact))}


def count(container: Container, model: Any) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def define(container: Container, **values: Any) -> None:
    with container.uow() as uow:
        define_field(uow, SYSTEM, {"object_type": "contacts", **values})
        uow.commit()


def export_rows(container: Container, object_name: str = "contacts", **kwargs: Any) -> list[list[str]]:
    out = io.BytesIO()
    with container.session_factory() as session:
        export_csv(session, object_name, out, actor=SYSTEM, settings=container.settings, **kwargs)
    return list(csv.reader(io.StringIO(out.getvalue().decode("utf-8"))))


# ---- mapping --------------------------------------------------------------------------------


def test_headers_map_by_name_label_custom_field_and_explicit_map(
    container: Container, tmp_path: Path
) -> None:
    define(container, name="budget", label="Annual budget", field_type="number")
    define(container, name="segment", label="Segment", field_type="text")
    path = write_csv(tmp_path / "in.csv", [
        ["External", "First name", "LAST_NAME", "Company Email", "custom.budget", "segment",
         "Internal notes"],
        ["c-1", "Ada", "Lovelace", "Ada@Example.com", "1200.50", "enterprise", "ignore me"],
    ])

    result, errors = run_import(container, path, mapping={"Company Email": "email",
                                                          "Internal notes": ""})

    assert errors == []
    assert result.counts.created == 1
    assert "Internal notes (skipped by --map)" in result.ignored_columns
    ada = contacts(container)["c-1"]
    assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@example.com")
    assert ada.custom == {"budget": 1200.5, "segment": "enterprise"}


def test_an_unknown_column_stops_the_import_before_any_write(
    container: Container, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "in.csv", [["last_name", "Nickname"], ["Li", "Xiao Li"]])

    with pytest.raises(ImportAborted) as refused:
        run_import(container, path)

    assert "Nickname" in refused.value.errors[0].message
    assert count(container, Contact) == 0
    result, _ = run_import(container, path, ignore_unknown_columns=True)
    assert result.counts.created == 1
    assert "Nickname (unknown)" in result.ignored_columns


def test_a_missing_required_column_is_named_up_front(container: Container, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [["first_name"], ["Ada"]])

    with pytest.raises(ImportAborted) as refused:
        run_import(container, path)

    assert "last_name" in refused.value.errors[0].message


# ---- upsert ---------------------------------------------------------------------------------


def test_upsert_on_external_id_updates_instead_of_duplicating(
    container: Container, tmp_path: Path
) -> None:
    first = write_csv(tmp_path / "first.csv", [
        ["external_id", "last_name", "job_title"],
        ["c-1", "Lovelace", "Engineer"],
        ["c-2", "Hopper", "Admiral"],
    ])
    run_import(container, first)
    second = write_csv(tmp_path / "second.csv", [
        ["external_id", "last_name", "job_title"],
        ["c-1", "Lovelace", "Countess"],
        ["c-2", "Hopper", "Admiral"],
        ["c-3", "Wei", "Engineer"],
        ["c-3", "Wei", "Director"],  # the same key twice in one batch: the last one wins
    ])

    result, errors = run_import(container, second)

    assert errors == []
    assert (result.counts.created, result.counts.updated, result.counts.unchanged) == (1, 2, 1)
    people = contacts(container)
    assert len(people) == 3
    assert people["c-1"].job_title == "Countess"
    assert people["c-1"].version == 2
    assert people["c-3"].job_title == "Director"


def test_upsert_on_id_updates_exported_records(container: Container, tmp_path: Path) -> None:
    run_import(container, write_csv(tmp_path / "a.csv", [["last_name"], ["Lovelace"]]))
    ada = next(iter(contacts(container).values()))
    path = write_csv(tmp_path / "b.csv", [["id", "last_name", "job_title"],
                                          [str(ada.id), "Lovelace", "Countess"],
                                          ["999999", "Nobody", ""]])

    result, errors = run_import(container, path, upsert_on="id")

    assert result.counts.updated == 1
    assert [(e.row, e.field) for e in errors] == [(3, "id")]
    assert contacts(container)[str(ada.id)].job_title == "Countess"


# ---- per-row errors -------------------------------------------------------------------------


def test_bad_rows_are_reported_by_row_and_column_while_good_rows_are_imported(
    container: Container, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "in.csv", [
        ["external_id", "last_name", "Mail", "role", "account_id"],
        ["c-1", "Lovelace", "ada@example.com", "champion", ""],
        ["c-2", "Hopper", "not-an-email", "champion", ""],  # row 3
        ["c-3", "", "wei@example.com", "", ""],  # row 4: last_name is required
        ["c-4", "Stone", "", "chief", ""],  # row 5: not a role
        ["c-5", "Park", "", "", "12abc"],  # row 6: not an id
        ["c-6", "Zhang", "", "", "424242"],  # row 7: no such account
        ["c-7", "Okafor", "okafor@example.com", "user", ""],
    ])
    report = tmp_path / "errors.csv"

    result, errors = run_import(container, path, mapping={"Mail": "email"}, batch_size=3,
                                errors_path=report)

    assert result.counts.created == 2
    assert result.counts.failed == 5
    assert {(e.row, e.column) for e in errors} == {
        (3, "Mail"), (4, "last_name"), (5, "role"), (6, "account_id"), (7, "account_id"),
    }
    assert set(contacts(container)) == {"c-1", "c-7"}
    lines = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [line["row"] for line in lines] == ["3", "4", "5", "6", "7"]
    assert lines[0]["raw"] == "c-2,Hopper,not-an-email,champion,"
    assert result.errors_path == report


def test_a_value_over_the_field_length_is_a_row_error(container: Container, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [["last_name"], ["x" * 101], ["Li"]])

    result, errors = run_import(container, path)

    assert result.counts.created == 1
    assert [(e.row, e.field) for e in errors] == [(2, "last_name")]


def test_a_row_with_extra_cells_is_rejected_not_shifted(container: Container, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("last_name,city\nLi,Shanghai, China\nWang,Beijing\n", encoding="utf-8")

    result, errors = run_import(container, path)

    assert result.counts.created == 1
    assert errors[0].row == 2
    assert errors[0].code == "malformed_row"


def test_cells_are_converted_per_field_kind(container: Container, tmp_path: Path) -> None:
    define(container, name="vip", label="VIP", field_type="boolean")
    define(container, name="since", label="Customer since", field_type="date")
    define(container, name="interests", label="Interests", field_type="multi_enum",
           options=["robots", "lasers", "pumps"])
    define(container, name="met_at", label="Met at", field_type="datetime")
    path = write_csv(tmp_path / "in.csv", [
        ["external_id", "last_name", "role", "vip", "since", "interests", "met_at"],
        ["c-1", "Li", "Decision_Maker", "yes", "2024-02-29", "robots; lasers",
         "2026-01-31T09:00:00+08:00"],
        ["c-2", "Wang", "", "no", "", "", ""],
        ["c-3", "Zhao", "", "maybe", "", "", ""],
        ["c-4", "Qian", "", "", "31/01/2026", "", ""],
        ["c-5", "Sun", "", "", "", "", "2026-01-31T09:00:00"],
        ["c-6", "Zhou", "", "", "", "robots;kites", ""],
    ])

    result, errors = run_import(container, path)

    assert result.counts.created == 2
    assert {(e.row, e.field) for e in errors} == {
        (4, "custom.vip"), (5, "custom.since"), (6, "custom.met_at"), (7, "custom.interests"),
    }
    people = contacts(container)
    assert people["c-1"].role == "decision_maker"
    assert people["c-1"].custom == {"vip": True, "since": "2024-02-29",
                                    "interests": ["lasers", "robots"],
                                    "met_at": "2026-01-31T01:00:00+00:00"}
    assert people["c-2"].custom == {"vip": False}


def test_typed_built_in_fields(container: Container, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [
        ["external_id", "name", "annual_revenue", "tier", "website"],
        ["a-1", "Acme", "1250000.50", "a", "acme.example.com"],
        ["a-2", "Bolt", "1,250", "B", ""],
        ["a-3", "Cog", "12.345", "C", ""],  # money has two decimals
    ])

    result, errors = run_import(container, path, object_name="accounts")

    assert result.counts.created == 1
    assert {(e.row, e.field) for e in errors} == {(3, "annual_revenue"), (4, "annual_revenue")}
    with container.session_factory() as session:
        acme = session.scalars(select(Account)).one()
    assert (str(acme.annual_revenue), acme.tier, acme.website) == (
        "1250000.50", "A", "https://acme.example.com")


def test_empty_cells_keep_values_unless_clear_empty(container: Container, tmp_path: Path) -> None:
    run_import(container, write_csv(tmp_path / "a.csv", [
        ["external_id", "last_name", "job_title"], ["c-1", "Li", "CTO"]]))
    blank = write_csv(tmp_path / "b.csv", [["external_id", "last_name", "job_title"],
                                           ["c-1", "Li", ""]])

    run_import(container, blank)
    assert contacts(container)["c-1"].job_title == "CTO"
    run_import(container, blank, clear_empty=True)
    assert contacts(container)["c-1"].job_title is None


# ---- encodings ------------------------------------------------------------------------------


def test_a_byte_order_mark_is_not_part_of_the_first_header(
    container: Container, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "in.csv", [["external_id", "last_name"], ["c-1", "王"]], bom=True)

    result, errors = run_import(container, path)

    assert errors == []
    assert contacts(container)["c-1"].last_name == "王"


def test_an_invalid_utf8_row_is_reported_with_its_raw_bytes(
    container: Container, tmp_path: Path
) -> None:
    bad = b"c-2,M\xfcller\r\n"  # Latin-1, not UTF-8
    path = tmp_path / "in.csv"
    path.write_bytes(b"external_id,last_name\r\nc-1,Li\r\n" + bad + "c-3,王伟\r\n".encode())
    report = tmp_path / "errors.csv"

    result, errors = run_import(container, path, errors_path=report)

    assert set(contacts(container)) == {"c-1", "c-3"}
    assert [(e.row, e.code) for e in errors] == [(3, "invalid_encoding")]
    assert "UTF-8" in errors[0].message
    line = next(csv.DictReader(report.open(encoding="utf-8")))
    assert base64.b64decode(line["raw_base64"]) == bad
    assert line["raw"] == "c-2,M\\xfcller"


def test_a_gb18030_file_imports_when_told(container: Container, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("external_id,last_name,first_name\nc-1,王,伟\n".encode("gb18030"))

    result, errors = run_import(container, path, encoding="gb18030")

    assert errors == []
    assert contacts(container)["c-1"].last_name == "王"


def test_a_utf16_file_is_refused_with_advice(container: Container, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("last_name\nLi\n".encode("utf-16"))

    with pytest.raises(ImportAborted, match="UTF-8"):
        run_import(container, path)


def test_quoted_fields_may_hold_newlines_and_delimiters(container: Container, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [
        ["external_id", "last_name", "notes"],
        ["c-1", "Li", "line one\nline two, with a comma and \"quotes\""],
        ["c-2", "Wang", ""],
    ])

    result, errors = run_import(container, path)

    assert errors == []
    assert contacts(container)["c-1"].notes == 'line one\nline two, with a comma and "quotes"'


def test_an_unclosed_quote_stops_the_import_with_its_row(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer_module, "MAX_RECORD_BYTES", 200)
    path = tmp_path / "in.csv"
    path.write_text("last_name,notes\nLi,ok\nWang,\"never closed\n" + "x,y\n" * 100)

    with pytest.raises(ImportAborted, match="Row 3"):
        run_import(container, path, batch_size=1)

    assert count(container, Contact) == 1


# ---- formulas -------------------------------------------------------------------------------


FORMULAS = {
    "notes": '=HYPERLINK("http://evil.example.com","click")',
    "job_title": "+1 engineer",
    "department": "@SUM(A1:A9)",
    "first_name": "-Ada",
}


def test_formula_like_values_are_stored_verbatim_and_escaped_on_export(
    container: Container, tmp_path: Path
) -> None:
    header = ["external_id", "last_name", *FORMULAS]
    path = write_csv(tmp_path / "in.csv", [header, ["c-1", "Li", *FORMULAS.values()]])

    run_import(container, path)

    li = contacts(container)["c-1"]
    assert {name: getattr(li, name) for name in FORMULAS} == FORMULAS
    rows = export_rows(container, columns=header)
    assert rows[1][2:] == ["'" + value for value in FORMULAS.values()]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t")) for cell in rows[1])


def test_a_quote_marking_a_formula_as_text_is_dropped_on_import(
    container: Container, tmp_path: Path
) -> None:
    """``'=x`` is how spreadsheets (and rapport export) say "the text =x"."""
    path = write_csv(tmp_path / "in.csv", [["external_id", "last_name", "notes", "job_title"],
                                           ["c-1", "Li", "'=1+1", "'quoted"]])

    run_import(container, path)

    li = contacts(container)["c-1"]
    assert (li.notes, li.job_title) == ("=1+1", "'quoted")


@pytest.mark.parametrize("value", ["=1+1", "'=x", "''@y", "plain", "'quoted", "-", "\t=tab"])
def test_escaping_is_undone_exactly_on_import(value: str) -> None:
    assert unescape_formula(escape_cell(value)) == value


# ---- dry run --------------------------------------------------------------------------------


def test_dry_run_validates_every_row_and_writes_nothing(container: Container, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [["external_id", "last_name", "email"],
                                           ["c-1", "Li", "li@example.com"],
                                           ["c-2", "Wang", "nope"]])

    result, errors = run_import(container, path, dry_run=True)

    assert (result.counts.created, result.counts.failed) == (1, 1)
    assert [e.row for e in errors] == [3]
    assert count(container, Contact) == 0
    assert count(container, ChangeRecord) == 0
    assert count(container, OutboxMessage) == 0
    assert not (tmp_path / "in.csv.rapport-import.json").exists()


# ---- resume ---------------------------------------------------------------------------------


def people_csv(path: Path, n: int, *, bad_rows: tuple[int, ...] = ()) -> Path:
    rows = [["last_name", "email"]]
    for i in range(n):
        rows.append([f"Person {i}", "broken" if i in bad_rows else f"p{i}@example.com"])
    return write_csv(path, rows)


class Crash(BaseException):
    """Stands in for a kill: nothing below the importer catches it."""


def crash_on_call(n: int, real: Any) -> Any:
    calls = {"count": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["count"] += 1
        if calls["count"] == n:
            raise Crash
        return real(*args, **kwargs)

    return wrapper


def emails(container: Container) -> list[str]:
    with container.session_factory() as session:
        return sorted(session.scalars(select(Contact.email)))


def test_resume_after_a_crash_mid_batch_continues_without_duplicates(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = people_csv(tmp_path / "in.csv", 10, bad_rows=(1, 7))
    report = tmp_path / "errors.csv"
    real = container.records.bulk_write
    # batch 3 (rows 8-10 of the file hold people 6-8): its bulk write crashes
    monkeypatch.setattr(container.records, "bulk_write", crash_on_call(4, real))
    with pytest.raises(Crash):
        run_import(container, path, batch_size=3, upsert_on=None, errors_path=report)
    monkeypatch.setattr(container.records, "bulk_write", real)
    assert count(container, Contact) == 5

    with pytest.raises(Conflict, match="--resume"):
        run_import(container, path, batch_size=3, upsert_on=None, errors_path=report)
    result, _ = run_import(container, path, batch_size=3, upsert_on=None, errors_path=report,
                           resume=True)

    assert result.resumed_from_row == 7
    assert (result.counts.created, result.counts.failed) == (8, 2)
    assert emails(container) == sorted(f"p{i}@example.com" for i in range(10) if i not in (1, 7))
    assert [line["row"] for line in csv.DictReader(report.open(encoding="utf-8"))] == ["3", "9"]


def test_resume_knows_whether_the_last_batch_committed(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the commit and the checkpoint: the proof says the batch is in."""
    path = people_csv(tmp_path / "in.csv", 9)
    real_save = Checkpoint.save

    def save(self: Checkpoint, done: Any, pending: Any = None, *, complete: bool = False) -> None:
        if pending is None and done.row == 7:
            raise Crash  # batch 2 (rows 5-7) is committed, its checkpoint never written
        real_save(self, done, pending, complete=complete)

    monkeypatch.setattr(Checkpoint, "save", save)
    with pytest.raises(Crash):
        run_import(container, path, batch_size=3, upsert_on=None)
    monkeypatch.setattr(Checkpoint, "save", real_save)
    assert count(container, Contact) == 6

    result, _ = run_import(container, path, batch_size=3, upsert_on=None, resume=True)

    assert result.resumed_from_row == 7
    assert count(container, Contact) == 9
    assert emails(container) == sorted(f"p{i}@example.com" for i in range(9))


def test_resume_knows_when_the_last_batch_did_not_commit(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = people_csv(tmp_path / "in.csv", 9)
    monkeypatch.setattr(UnitOfWork, "commit", crash_on_call(2, UnitOfWork.commit))
    with pytest.raises(Crash):
        run_import(container, path, batch_size=3, upsert_on=None)
    monkeypatch.undo()
    assert count(container, Contact) == 3

    result, _ = run_import(container, path, batch_size=3, upsert_on=None, resume=True)

    assert result.resumed_from_row == 4
    assert emails(container) == sorted(f"p{i}@example.com" for i in range(9))


def test_resume_refuses_a_file_whose_imported_part_changed(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = people_csv(tmp_path / "in.csv", 6)
    monkeypatch.setattr(container.records, "bulk_write",
                        crash_on_call(2, container.records.bulk_write))
    with pytest.raises(Crash):
        run_import(container, path, batch_size=3, upsert_on=None)
    monkeypatch.undo()
    path.write_bytes(path.read_bytes().replace(b"Person 0", b"Person X"))

    with pytest.raises(ImportAborted, match="changed"):
        run_import(container, path, batch_size=3, upsert_on=None, resume=True)


def test_a_checkpoint_that_cannot_be_saved_stops_the_import_before_any_write(
    container: Container, tmp_path: Path
) -> None:
    path = people_csv(tmp_path / "in.csv", 3)

    with pytest.raises(FileNotFoundError, match="missing"):
        run_import(container, path, checkpoint_path=tmp_path / "missing" / "cp.json")

    assert count(container, Contact) == 0


def test_a_completed_import_is_not_resumed_twice(container: Container, tmp_path: Path) -> None:
    path = people_csv(tmp_path / "in.csv", 3)
    run_import(container, path, upsert_on=None)

    result, _ = run_import(container, path, upsert_on=None, resume=True)

    assert result.already_complete
    assert count(container, Contact) == 3


# ---- what a write leaves behind -------------------------------------------------------------


def test_imported_rows_get_change_records_outbox_events_and_search_documents(
    container: Container, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "in.csv", [["last_name", "first_name", "phone"],
                                           ["王", "伟", "138 0013 8000"]])

    run_import(container, path)

    with container.session_factory() as session:
        change = session.scalars(select(ChangeRecord)).one()
        event = session.scalars(select(OutboxMessage)).one()
    assert (change.action, change.source) == ("created", "import")
    assert change.changes["phone"] == [None, "+8613800138000"]
    assert event.topic == "crm.contact.created"
    with container.session_factory() as session:
        page = container.records.list(session, "contacts",
                                      importer_module_list_query(q="王伟"), actor=SYSTEM)
    assert [r.values["phone"] for r in page.items] == ["+8613800138000"]


def importer_module_list_query(**kwargs: Any) -> Any:
    from rapport.crm.query import ListQuery

    return ListQuery(**kwargs)


def test_a_database_constraint_rejects_only_the_offending_row(
    container: Container, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "in.csv", [["sku", "name"], ["P-1", "Pump"], ["P-2", "Valve"],
                                           ["P-1", "Pump again"]])

    result, errors = run_import(container, path, object_name="products")

    assert result.counts.created == 2
    assert [(e.row, e.code) for e in errors] == [(4, "conflict")]
    assert count(container, Product) == 2


# ---- export ---------------------------------------------------------------------------------


def seed_people(container: Container, tmp_path: Path) -> None:
    define(container, name="budget", label="Budget", field_type="number")
    run_import(container, write_csv(tmp_path / "seed.csv", [
        ["external_id", "last_name", "first_name", "role", "custom.budget"],
        ["c-1", "Lovelace", "Ada", "champion", "100"],
        ["c-2", "Hopper", "Grace", "user", "250.5"],
        ["c-3", "Wei", "Li", "champion", ""],
        ["c-4", "Park", "Jun", "champion", "75"],
    ]))


def test_export_streams_filtered_sorted_rows_with_chosen_columns(
    container: Container, tmp_path: Path
) -> None:
    seed_people(container, tmp_path)
    progress: list[int] = []

    rows = export_rows(container, filters=["role:eq:champion"], sort=["-last_name"],
                       columns=["external_id", "last_name", "custom.budget"], chunk_rows=2,
                       on_progress=progress.append)

    assert rows == [["external_id", "last_name", "custom.budget"],
                    ["c-3", "Wei", ""], ["c-4", "Park", "75.0"], ["c-1", "Lovelace", "100.0"]]
    assert progress == [2, 3]


def test_export_header_has_every_field_id_first_then_custom_fields(
    container: Container, tmp_path: Path
) -> None:
    seed_people(container, tmp_path)

    header = export_rows(container)[0]

    assert header[0] == "id"
    assert {"last_name", "email", "created_at", "version"} <= set(header)
    assert header[-1] == "custom.budget"


def test_export_can_start_with_a_bom_for_excel(container: Container, tmp_path: Path) -> None:
    seed_people(container, tmp_path)
    out = io.BytesIO()
    with container.session_factory() as session:
        export_csv(session, "contacts", out, bom=True, columns=["last_name"], actor=SYSTEM,
                   settings=container.settings)

    assert out.getvalue().startswith(b"\xef\xbb\xbflast_name\r\n")


def test_export_refuses_unknown_columns_and_objects(container: Container) -> None:
    from rapport.errors import NotFound, ValidationFailed

    with pytest.raises(ValidationFailed):
        export_rows(container, columns=["nickname"])
    with pytest.raises(NotFound):
        export_rows(container, object_name="users")


def test_export_after_import_round_trips(container: Container, tmp_path: Path) -> None:
    define(container, name="vip", label="VIP", field_type="boolean")
    define(container, name="tags", label="Tags", field_type="multi_enum", options=["a", "b"])
    source = write_csv(tmp_path / "in.csv", [
        ["external_id", "last_name", "first_name", "email", "phone", "notes", "custom.vip",
         "custom.tags"],
        ["c-1", "王", "伟", "wei@example.com", "+86 138 0013 8000", "=cmd|' /C calc'!A0", "true",
         "a;b"],
        ["c-2", "Hopper", "Grace", "", "", "multi\nline, \"quoted\"", "false", ""],
    ])
    run_import(container, source)
    before = {k: (c.last_name, c.email, c.phone, c.notes, c.custom)
              for k, c in contacts(container).items()}
    exported = tmp_path / "export.csv"
    with container.session_factory() as session, exported.open("wb") as out:
        export_csv(session, "contacts", out, actor=SYSTEM, settings=container.settings)

    result, errors = run_import(container, exported)

    assert errors == []
    assert (result.counts.unchanged, result.counts.created, result.counts.updated) == (2, 0, 0)
    assert set(result.ignored_columns) == {"id (read-only)", "version (read-only)",
                                           "created_at (read-only)", "updated_at (read-only)"}
    after = {k: (c.last_name, c.email, c.phone, c.notes, c.custom)
             for k, c in contacts(container).items()}
    assert after == before


# ---- the e-mail fast path (rapport.crm.normalise) --------------------------------------------


def full_check(value: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    folded = value.strip().lower()
    try:
        return validate_email(folded, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def fast_or_none(value: str) -> str | None:
    try:
        return normalise_email(value)
    except ValueError:
        return None


LABEL = st.text("abcxyz019-", min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(
    local=st.text("abcXYZ09._+-", min_size=1, max_size=12),
    labels=st.lists(LABEL, min_size=1, max_size=3),
    tld=st.sampled_from(["com", "cn", "io", "test", "local", "c0m", "x", "onion", "arpa"]),
)
def test_the_email_fast_path_agrees_with_full_validation(
    local: str, labels: list[str], tld: str
) -> None:
    address = f"{local}@{'.'.join(labels)}.{tld}"

    assert fast_or_none(address) == full_check(address)


# ---- the phone search-variants memo (rapport.crm.normalise) ---------------------------------


def reparsed_variants(e164: str) -> list[str]:
    """What phone_search_variants computes without its memo: parse the E.164 form again."""
    import phonenumbers

    try:
        return [e164.lstrip("+"), str(phonenumbers.parse(e164).national_number)]
    except phonenumbers.NumberParseException:
        return [e164.lstrip("+")]


def memo_agrees(raw: str, region: str) -> None:
    from rapport.crm.normalise import normalise_phone, phone_search_variants

    try:
        e164 = normalise_phone(raw, region)
    except ValueError:
        return
    assert phone_search_variants(e164) == reparsed_variants(e164), (raw, region, e164)


REGIONS = ["CN", "US", "CA", "GB", "IT", "DE", "RU", "IN", "HK", "JP", "BR", "AR", "MX", "FR",
           "AU", "SG", "KZ", "VA", "SM"]


@pytest.mark.parametrize(("raw", "region"), [
    ("138 0013 8000", "CN"), ("+86 138 0013 8000", "US"), ("010 1234 5678", "CN"),
    ("(010) 1234-5678", "CN"), ("+44 (0)20 7946 0000", "CN"), ("+39 06 1234 5678", "CN"),
    ("06 1234 5678", "IT"), ("8 800 555 35 35", "RU"), ("+7 800 555 35 35", "KZ"),
    ("1 800 555 0100", "US"), ("(415) 555-0100", "CA"), ("0086 138 0013 8000", "CN"),
    ("86 138 0013 8000", "CN"), ("17951 138 0013 8000", "CN"), ("+1 242 555 0100", "US"),
])
def test_phone_search_variants_memo_matches_a_fresh_parse(raw: str, region: str) -> None:
    memo_agrees(raw, region)


@settings(max_examples=1500, deadline=None)
@given(
    plus=st.booleans(),
    prefix=st.sampled_from(["", "0", "00", "1", "8", "86", "7", "39", "44", "1795"]),
    digits=st.text("0123456789", min_size=4, max_size=14),
    separator=st.sampled_from(["", " ", "-", ".", " (", ") "]),
    region=st.sampled_from(REGIONS),
)
def test_phone_search_variants_memo_matches_a_fresh_parse_for_any_number(
    plus: bool, prefix: str, digits: str, separator: str, region: str
) -> None:
    middle = len(digits) // 2
    raw = ("+" if plus else "") + prefix + separator + digits[:middle] + separator + digits[middle:]

    memo_agrees(raw, region)


def test_search_variants_of_a_just_normalised_phone_need_no_second_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rapport.crm import normalise

    e164 = normalise.normalise_phone("138 0013 8000", "CN")

    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed again")

    monkeypatch.setattr(normalise.phonenumbers, "parse", no_parse)
    assert normalise.phone_search_variants(e164) == ["8613800138000", "13800138000"]
