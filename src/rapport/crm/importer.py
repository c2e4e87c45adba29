"""CSV import: stream a file in batches through the validated bulk write.

Each batch is one transaction. A bad row is reported (row number, column, reason and its raw
bytes) and left out; the good rows of its batch are still written. A checkpoint beside the
file records the byte offset of the last committed batch, so an interrupted import resumes
where it stopped and writes no row twice. The file is read record by record, never whole.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson
from sqlalchemy import Table, UniqueConstraint, select
from sqlalchemy.exc import DataError, IntegrityError

from rapport.config import Settings
from rapport.crm.changes import ChangeRecord
from rapport.crm.custom_fields import custom_field_specs
from rapport.crm.exporter import escape_cell, unescape_formula
from rapport.crm.registry import (
    API_OBJECTS,
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
    KIND_TEXT,
    KIND_URL,
    FieldSpec,
    ObjectSpec,
    get_object,
)
from rapport.crm.schemas import clean_text
from rapport.crm.service import Actor, BulkResult, RecordService
from rapport.db.uow import UnitOfWork
from rapport.errors import (
    Conflict,
    FieldError,
    NotFound,
    RapportError,
    ValidationFailed,
)

IMPORT_ACTOR = Actor(user_id=None, source="import", is_admin=True)  # the operator
DEFAULT_UPSERT_KEY = "external_id"
ENCODINGS = ("utf-8", "gb18030")  # ASCII-compatible: a quote or newline byte is always one
MAX_RECORD_BYTES = 8 * 1024 * 1024  # a quote left open would otherwise swallow the file
MAX_BATCH_BYTES = 32 * 1024 * 1024
CHECKPOINT_SUFFIX = ".rapport-import.json"
ERRORS_SUFFIX = ".errors.csv"
ERROR_COLUMNS = ["row", "column", "field", "code", "message", "raw", "raw_base64"]
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_TRUE = frozenset({"true", "yes", "y", "t", "1", "是"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "否"})
_INTEGER = re.compile(r"[+-]?\d+")
_BLAME = re.compile(r"^records\[(\d+)\]\.?(.*)$")


class ImportAborted(RapportError):
    """The import cannot go on (unreadable file, unmappable header, stale checkpoint)."""

    code = "import_aborted"
    status = 422
    title = "Import stopped"


@dataclass(frozen=True)
class ImportOptions:
    """How to read the file and write its rows (see ``rapport import --help``)."""

    mapping: Mapping[str, str] = field(default_factory=dict)  # CSV column -> field ('' skips)
    upsert_on: str | None = DEFAULT_UPSERT_KEY
    dry_run: bool = False
    batch_size: int = 1000
    resume: bool = False
    restart: bool = False
    encoding: str = "utf-8"
    delimiter: str = ","
    clear_empty: bool = False
    ignore_unknown_columns: bool = False
    errors_path: Path | None = None
    checkpoint_path: Path | None = None


@dataclass(frozen=True)
class RowError:
    """One problem with one row; ``row`` counts like a spreadsheet (the header is row 1)."""

    row: int
    column: str
    field: str
    message: str
    code: str
    raw: bytes


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0

    def add(self, other: ImportCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "failed": self.failed}


@dataclass
class ImportResult:
    counts: ImportCounts
    rows_read: int  # data rows read in this run
    resumed_from_row: int | None
    last_row: int
    ignored_columns: list[str]
    errors_path: Path | None  # None when no row failed
    dry_run: bool
    already_complete: bool = False


# ---- reading ------------------------------------------------------------------------------


@dataclass
class _RawRecord:
    row: int
    end: int  # byte offset just past this record
    raw: bytes
    cells: list[str] | None  # None when the bytes could not be decoded or parsed
    problem: str = ""
    digest: Any = None  # sha256 state of the file up to ``end`` (hex taken at commits)


class _CsvStream:
    """CSV records with their byte offsets; each record is decoded on its own, exactly once."""

    def __init__(self, fh: BinaryIO, encoding: str, delimiter: str) -> None:
        self.fh = fh
        self.encoding = encoding
        self.delimiter = delimiter

    def prefix_hash(self, offset: int) -> Any:
        """sha256 of the first ``offset`` bytes: proves the imported part did not change."""
        digest = hashlib.sha256()
        self.fh.seek(0)
        left = offset
        while left > 0:
            chunk = self.fh.read(min(left, 1_048_576))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
        return digest

    def records(self, offset: int, row: int, digest: Any = None) -> Iterator[_RawRecord]:
        """Records starting at byte ``offset``; the first one gets number ``row``.

        With ``digest`` (the hash of the bytes before ``offset``) each record carries the
        hash of the file up to its end.
        """
        self.fh.seek(offset)
        position = offset
        while True:
            raw = self._next_raw(position, row)
            if not raw:
                return
            start, position = position, position + len(raw)
            if digest is not None:
                digest.update(raw)
            if start == 0 and raw.startswith(_BOM) and self.encoding == "utf-8":
                raw = raw[len(_BOM):]
            record = self._parse(raw, row, position)
            if digest is not None:
                record.digest = digest.copy()
            yield record
            row += 1

    def _next_raw(self, position: int, row: int) -> bytes:
        """One record: physical lines until the quotes balance (a quoted field may hold \\n)."""
        parts: list[bytes] = []
        size = 0
        quotes = 0
        while True:
            line = self.fh.readline(MAX_RECORD_BYTES + 1 - size)
            if not line:
                break
            parts.append(line)
            size += len(line)
            quotes += line.count(b'"')
            if quotes % 2 == 0 and line.endswith(b"\n"):
                break
            if size > MAX_RECORD_BYTES:
                raise ImportAborted(
                    f"Row {row} (byte {position}) is over {MAX_RECORD_BYTES // 1_048_576} MB: "
                    "probably a quoted field that is never closed. Fix the file and run the "
                    "import again with --resume."
                )
        return b"".join(parts)

    def _parse(self, raw: bytes, row: int, end: int) -> _RawRecord:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            hint = " (save the file as 'CSV UTF-8')" if self.encoding == "utf-8" else ""
            return _RawRecord(row, end, raw, None,
                              f"not valid {self.encoding} at byte {exc.start} of the row{hint}")
        if not text.strip("\r\n"):
            return _RawRecord(row, end, raw, [])
        try:
            cells = next(csv.reader([text], delimiter=self.delimiter, strict=True))
        except (csv.Error, StopIteration) as exc:
            return _RawRecord(row, end, raw, None, f"not readable as CSV: {exc}")
        return _RawRecord(row, end, raw, cells)


# ---- mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnTarget:
    """A CSV column and the field it fills (``path`` is ``name`` or ``custom.name``)."""

    index: int
    header: str
    field: FieldSpec

    @property
    def path(self) -> str:
        return f"custom.{self.field.name}" if self.field.custom else self.field.name


@dataclass(frozen=True)
class ColumnPlan:
    headers: list[str]
    targets: list[ColumnTarget]
    ignored: list[str]  # read-only or unknown columns left out, with the reason

    def header_for(self, path: str) -> str:
        for target in self.targets:
            if target.path == path:
                return target.header
        return ""

    def fingerprint(self) -> list[list[str]]:
        return [[t.header, t.path] for t in self.targets]


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().casefold())


def _field_index(spec: ObjectSpec, custom: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
    """Every name a column may use for a field: name, label, ``custom.name``."""
    index: dict[str, FieldSpec] = {}
    for f in custom.values():
        index.setdefault(_key(f.label), f)
        index[_key(f.name)] = f
        index[_key(f"custom.{f.name}")] = f
    for f in spec.fields.values():  # built-in fields win over custom labels
        index[_key(f.label)] = f
    for f in spec.fields.values():
        index[_key(f.name)] = f
    return index


def plan_columns(
    headers: Sequence[str],
    spec: ObjectSpec,
    custom: dict[str, FieldSpec],
    mapping: Mapping[str, str],
    *,
    upsert_on: str | None,
    ignore_unknown: bool,
) -> ColumnPlan:
    """Match CSV headers to fields; refuse what cannot be matched unless told to skip it."""
    index = _field_index(spec, custom)
    by_key = {_key(h): i for i, h in enumerate(headers)}
    problems: list[str] = []
    explicit: dict[int, str] = {}
    for column, target in mapping.items():
        i = headers.index(column) if column in headers else by_key.get(_key(column))
        if i is None:
            problems.append(f"--map names a column the file does not have: '{column}'")
        else:
            explicit[i] = target
    targets: list[ColumnTarget] = []
    ignored: list[str] = []
    unknown: list[str] = []
    for i, header in enumerate(headers):
        wanted = explicit.get(i, header)
        if i in explicit and not wanted.strip():
            ignored.append(f"{header} (skipped by --map)")
            continue
        f = index.get(_key(wanted))
        if f is None:
            if i in explicit:
                problems.append(f"--map target '{wanted}' is not a field of {spec.name}")
            elif header.strip():
                unknown.append(header)
            continue
        if not f.writable and not (f.name == "id" and upsert_on == "id"):
            ignored.append(f"{header} (read-only)")
            continue
        targets.append(ColumnTarget(i, header, f))
    seen: dict[str, str] = {}
    for t in targets:
        if t.path in seen:
            problems.append(f"columns '{seen[t.path]}' and '{t.header}' both fill {t.path}")
        seen[t.path] = t.header
    if unknown and not ignore_unknown:
        known = ", ".join(sorted(f.name for f in spec.writable_fields()))
        problems.append(
            f"unknown columns: {', '.join(unknown)}. Map them with --map 'Column=field' "
            f"(or 'Column=' to skip), or pass --ignore-unknown-columns. Fields: {known}"
            + (f"; custom: {', '.join('custom.' + n for n in custom)}" if custom else "")
        )
    ignored.extend(f"{h} (unknown)" for h in unknown)
    if not problems and not (upsert_on and upsert_on in seen):  # then every row is created
        missing = [f.name for f in spec.writable_fields() if f.required and f.name not in seen]
        if missing:
            problems.append(f"required columns missing: {', '.join(missing)}")
    if problems:
        raise ImportAborted(
            "The header cannot be mapped to " + spec.name,
            errors=[FieldError("header", p, "mapping") for p in problems],
        )
    return ColumnPlan(list(headers), targets, ignored)


# ---- converting cells ---------------------------------------------------------------------


def convert_cell(f: FieldSpec, text: str) -> Any:
    """The typed value of one CSV cell for field ``f``; ``ValueError`` says what is wrong.

    Text stays text (validation cleans and normalises it); formula-like text is kept verbatim.
    """
    kind = f.kind
    if kind in (KIND_INTEGER, KIND_REFERENCE):
        value = text.strip()
        if not _INTEGER.fullmatch(value):
            raise ValueError(f"{_show(text)} is not a whole number")
        return int(value)
    if kind in (KIND_NUMBER, KIND_MONEY):
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise ValueError(f"{_show(text)} is not a number (use . for decimals, no separators)") from None
        if not number.is_finite():
            raise ValueError(f"{_show(text)} is not a finite number")
        return number if not f.custom else str(number)
    if kind == KIND_BOOLEAN:
        lowered = text.strip().casefold()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{_show(text)} is not true/false (also yes/no, 1/0)")
    if kind == KIND_DATE:
        try:
            parsed_date = date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"{_show(text)} is not a date like 2026-01-31") from None
        return parsed_date.isoformat() if f.custom else parsed_date
    if kind == KIND_DATETIME:
        try:
            parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{_show(text)} is not a date-time like 2026-01-31T09:00:00+08:00") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{_show(text)} needs a timezone offset, e.g. +08:00 or Z")
        return parsed.isoformat() if f.custom else parsed
    if kind in (KIND_MULTI_ENUM, KIND_JSON):
        values = _list_cell(text)
        return [_option(f, v) if isinstance(v, str) else v for v in values] if f.options else values
    if kind == KIND_ENUM:
        return _option(f, text)
    return text


def _show(text: str) -> str:
    """A cell quoted for a message, cut short (a message must stay readable)."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _option(f: FieldSpec, text: str) -> str:
    """An enum value as declared, matched regardless of case ("Decision_Maker" works)."""
    if text in f.options:
        return text
    folded = text.strip().casefold()
    matches = [o for o in f.options if o.casefold() == folded]
    return matches[0] if len(matches) == 1 else text


_AS_TEXT = frozenset({KIND_TEXT, KIND_EMAIL, KIND_PHONE, KIND_URL, KIND_CURRENCY})


def _converter(f: FieldSpec, *, is_key: bool) -> Callable[[str], Any] | None:
    """``convert_cell`` for ``f``, or ``None`` when the cell text is the value."""
    if is_key and f.kind == KIND_TEXT:
        return clean_text  # the upsert key is looked up as it will be stored
    if f.kind in _AS_TEXT:
        return None
    return lambda text: convert_cell(f, text)


def _list_cell(text: str) -> list[Any]:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = orjson.loads(stripped)  # bounded nesting, unlike json
        except orjson.JSONDecodeError:
            raise ValueError("not a JSON list; write a;b;c or [\"a\", \"b\"]") from None
        if not isinstance(value, list):
            raise ValueError("not a JSON list; write a;b;c or [\"a\", \"b\"]")
        return value
    return [part.strip() for part in text.split(";") if part.strip()]


# ---- error report -------------------------------------------------------------------------


class ErrorReport:
    """The rejected rows as CSV, written as they happen; resumable by truncating to a size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO | None = None

    def size(self) -> int:
        if self._fh is not None:
            return self._fh.tell()
        return self.path.stat().st_size if self.path.exists() else 0

    def open(self, keep_bytes: int | None) -> None:
        """Start a new report, or keep its first ``keep_bytes`` when resuming."""
        if keep_bytes and self.path.exists():
            fh = self.path.open("r+b")
            fh.truncate(keep_bytes)
            fh.seek(keep_bytes)
            self._fh = fh
        elif self.path.exists():
            self.path.unlink()

    def write(self, errors: Sequence[RowError]) -> None:
        if not errors:
            return
        if self._fh is None:
            self._fh = self.path.open("ab")
            if self._fh.tell() == 0:
                self._fh.write(_csv_line(ERROR_COLUMNS))
        lines = []
        for e in errors:
            raw_text = e.raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
            undecodable = e.code == "invalid_encoding"
            lines.append(_csv_line([
                str(e.row), escape_cell(e.column), e.field, e.code, escape_cell(e.message),
                escape_cell(raw_text), base64.b64encode(e.raw).decode() if undecodable else "",
            ]))
        self._fh.write(b"".join(lines))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    @property
    def written(self) -> bool:
        return self._fh is not None or (self.path.exists() and self.path.stat().st_size > 0)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _csv_line(cells: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue().encode("utf-8")


# ---- checkpoint ---------------------------------------------------------------------------


@dataclass
class _Position:
    offset: int  # bytes of the file handled (header included)
    row: int  # last row number handled
    counts: ImportCounts
    errors_bytes: int  # size of the error report at this point
    prefix_sha256: str  # hash of the first ``offset`` bytes

    def as_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "row": self.row, "counts": self.counts.as_dict(),
                "errors_bytes": self.errors_bytes, "prefix_sha256": self.prefix_sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Position:
        return cls(int(data["offset"]), int(data["row"]), ImportCounts(**data["counts"]),
                   int(data["errors_bytes"]), str(data["prefix_sha256"]))


class Checkpoint:
    """Progress of one import of one file, saved atomically after every commit.

    Before a commit the batch is saved as *pending* with a proof (its last change record);
    after a crash the proof tells whether that commit happened, so no batch runs twice.
    """

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.identity = identity

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            data: dict[str, Any] = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ImportAborted(f"The checkpoint {self.path} is unreadable ({exc}); "
                                "delete it or pass --restart") from exc
        return data

    def save(self, done: _Position, pending: tuple[_Position, dict[str, Any]] | None = None,
             *, complete: bool = False) -> None:
        data = {
            "version": 1, **self.identity, **done.as_dict(), "complete": complete,
            "pending": None if pending is None else {**pending[0].as_dict(), "proof": pending[1]},
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


# ---- the import ---------------------------------------------------------------------------


@dataclass
class _Item:
    """One record of a batch: a payload to write, or the errors that kept it out."""

    row: int
    end: int
    raw: bytes
    digest: Any
    payload: dict[str, Any] | None
    errors: list[RowError] = field(default_factory=list)


@dataclass
class _Outcome:
    counts: ImportCounts = field(default_factory=ImportCounts)
    errors: list[RowError] = field(default_factory=list)
    proof: dict[str, Any] | None = None


class _RetryRowByRow(Exception):  # noqa: N818 - control flow, never escapes the module
    """A database constraint failed inside a batch: redo its rows one transaction each."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class CsvImporter:
    """Imports one CSV file into one object through ``RecordService.bulk_write``."""

    def __init__(
        self,
        settings: Settings,
        uow_factory: Callable[[], UnitOfWork],
        records: RecordService,
        object_name: str,
        options: ImportOptions,
        *,
        actor: Actor = IMPORT_ACTOR,
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.records = records
        if object_name not in API_OBJECTS:  # users and custom records have their own rules
            raise NotFound(f"Cannot import into '{object_name}'. Objects: {', '.join(API_OBJECTS)}")
        self.spec = get_object(object_name)
        self.options = options
        self.actor = actor
        if options.encoding not in ENCODINGS:
            raise ImportAborted(f"The encoding must be one of {', '.join(ENCODINGS)}")
        if len(options.delimiter) != 1 or options.delimiter in '"\r\n':
            raise ImportAborted("The delimiter must be one character (not a quote or newline)")
        if options.batch_size < 1:
            raise ImportAborted("--batch-size must be at least 1")
        if options.dry_run and options.resume:
            raise ImportAborted("--dry-run and --resume do not go together")
        self.upsert_on = self._check_upsert_key(options.upsert_on)

    def _check_upsert_key(self, name: str | None) -> str | None:
        if not name:
            return None
        if name == "id":
            return name
        table = cast(Table, self.spec.model.__table__)
        unique = {c.name for c in table.columns if c.unique} | {
            next(iter(con.columns)).name
            for con in table.constraints
            if isinstance(con, UniqueConstraint) and len(con.columns) == 1
        }
        if name not in unique:
            if name == DEFAULT_UPSERT_KEY and name not in table.c:
                return None  # the default key: objects without one simply create
            keys = ", ".join(sorted({"id", *unique}))
            raise ImportAborted(f"--upsert-on must name a unique field of {self.spec.name}: {keys}")
        return name

    def run(
        self,
        path: Path,
        *,
        on_progress: Callable[[int, int], None] | None = None,
        on_error: Callable[[RowError], None] | None = None,
    ) -> ImportResult:
        """Import ``path``; ``on_progress(bytes_done, bytes_total)`` follows each batch."""
        options = self.options
        total = path.stat().st_size
        with path.open("rb") as fh:
            if fh.read(4).startswith(_UTF16_BOMS):
                raise ImportAborted("The file is UTF-16; save it as 'CSV UTF-8' and try again")
            stream = _CsvStream(fh, options.encoding, options.delimiter)
            header = next(stream.records(0, 1), None)
            if header is None or header.cells is None or not header.cells:
                problem = header.problem if header is not None else ""
                raise ImportAborted(
                    f"The first row must name the columns{': ' + problem if problem else ''}"
                )
            with self.uow_factory() as uow:
                custom = custom_field_specs(uow.session, self.spec.name)
            plan = plan_columns(
                header.cells, self.spec, custom, options.mapping,
                upsert_on=self.upsert_on, ignore_unknown=options.ignore_unknown_columns,
            )
            if self.upsert_on and self.upsert_on != DEFAULT_UPSERT_KEY and not plan.header_for(
                self.upsert_on
            ):
                raise ImportAborted(f"--upsert-on {self.upsert_on}: the file has no such column")
            checkpoint = Checkpoint(
                options.checkpoint_path or path.with_name(path.name + CHECKPOINT_SUFFIX),
                {"object": self.spec.name, "upsert_on": self.upsert_on,
                 "columns": plan.fingerprint(), "path": str(path.resolve())},
            )
            report = ErrorReport(options.errors_path or path.with_name(path.name + ERRORS_SUFFIX))
            start = self._starting_point(checkpoint, stream, header.end)
            if start is None:
                return ImportResult(ImportCounts(), 0, None, 0, plan.ignored, None,
                                    options.dry_run, already_complete=True)
            position, digest, resumed = start
            if not options.dry_run:
                checkpoint.save(position)  # fails here, before any write, if it cannot be saved
            report.open(position.errors_bytes if resumed else None)
            run = _Run(self, plan, checkpoint, report, position, on_error)
            rows_read = 0
            try:
                if on_progress:
                    on_progress(position.offset, total)
                batch: list[_Item] = []
                batch_bytes = 0
                for record in stream.records(position.offset, position.row + 1, digest):
                    rows_read += 1
                    batch.append(run.item(record))
                    batch_bytes += len(record.raw)
                    if len(batch) >= options.batch_size or batch_bytes >= MAX_BATCH_BYTES:
                        run.commit(batch)
                        batch, batch_bytes = [], 0
                        if on_progress:
                            on_progress(run.position.offset, total)
                if batch:
                    run.commit(batch)
                if on_progress:
                    on_progress(total, total)
                if not options.dry_run:
                    checkpoint.save(run.position, complete=True)
            finally:
                report.close()
        counts = run.position.counts
        return ImportResult(
            counts=counts,
            rows_read=rows_read,
            resumed_from_row=position.row if resumed else None,
            last_row=run.position.row,
            ignored_columns=plan.ignored,
            errors_path=report.path if counts.failed and report.path.exists() else None,
            dry_run=options.dry_run,
        )

    def _starting_point(
        self, checkpoint: Checkpoint, stream: _CsvStream, header_end: int
    ) -> tuple[_Position, Any, bool] | None:
        """Where to start: after the header, or after the last committed batch (``None``:
        nothing left to do)."""
        digest = stream.prefix_hash(header_end)
        fresh = _Position(header_end, 1, ImportCounts(), 0, digest.hexdigest())
        if self.options.dry_run:
            return fresh, digest, False
        saved = checkpoint.load()
        if saved is None or (saved.get("complete") and not self.options.resume):
            return fresh, digest, False
        if saved.get("row") == 1 and not saved.get("pending") and not saved.get("complete"):
            return fresh, digest, False  # stopped before its first batch: nothing to resume
        if not self.options.resume:
            if self.options.restart:
                return fresh, digest, False
            raise Conflict(
                f"An earlier import of this file stopped after row {saved.get('row')}. "
                "Pass --resume to continue it, or --restart to start from the top "
                f"(checkpoint: {checkpoint.path})"
            )
        for key, what in (("object", "the object"), ("upsert_on", "--upsert-on"),
                          ("columns", "the columns or their mapping")):
            if saved.get(key) != checkpoint.identity[key]:
                raise ImportAborted(
                    f"Cannot resume: {what} changed since the interrupted import. Run it again "
                    "with --restart (with an upsert key no row is written twice)."
                )
        if saved.get("complete"):
            return None
        done = _Position.from_dict(saved)
        pending = saved.get("pending")
        if pending and self._committed(pending.get("proof")):
            done = _Position.from_dict(pending)
        digest = stream.prefix_hash(done.offset)
        if digest.hexdigest() != done.prefix_sha256:
            raise ImportAborted(
                f"Cannot resume: the first {done.row} rows of the file changed since they were "
                "imported. Run it again with --restart (with an upsert key no row is written "
                "twice)."
            )
        checkpoint.save(done)
        return done, digest, True

    def _committed(self, proof: Mapping[str, Any] | None) -> bool:
        """Whether the batch that left this proof was committed before the interruption."""
        if not proof:
            return False  # the batch wrote nothing, so running it again is harmless
        table = ChangeRecord.__table__
        with self.uow_factory() as uow:
            row = uow.session.execute(
                select(table.c.occurred_at).where(
                    table.c.id == proof["change_id"],
                    table.c.record_id == proof["record_id"],
                    table.c.object_type == self.spec.name,
                )
            ).first()
        return row is not None and row[0].isoformat() == proof["occurred_at"]


class _Run:
    """One run over the file: turns records into payloads and commits them batch by batch."""

    def __init__(
        self,
        importer: CsvImporter,
        plan: ColumnPlan,
        checkpoint: Checkpoint,
        report: ErrorReport,
        position: _Position,
        on_error: Callable[[RowError], None] | None,
    ) -> None:
        self.importer = importer
        self.plan = plan
        self.checkpoint = checkpoint
        self.report = report
        self.position = position
        self.on_error = on_error
        self.width = len(plan.headers)
        key = importer.upsert_on
        clear = importer.options.clear_empty
        self.converters = [
            (t.index, t.field.name, t.field.custom, _converter(t.field, is_key=t.path == key),
             clear and t.path not in ("id", key), t)
            for t in plan.targets
        ]

    # -- one record -> one payload --

    def item(self, record: _RawRecord) -> _Item:
        item = _Item(record.row, record.end, record.raw, record.digest, None)
        if record.cells is None:
            code = "invalid_encoding" if record.problem.startswith("not valid") else "malformed_row"
            item.errors.append(RowError(record.row, "", "", record.problem, code, record.raw))
            return item
        cells = record.cells
        if not any(cell.strip() for cell in cells):
            return item  # a blank line, or a row of empty cells
        if len(cells) > self.width and any(cell.strip() for cell in cells[self.width:]):
            item.errors.append(RowError(
                record.row, "", "",
                f"{len(cells)} cells but the header has {self.width} columns "
                "(is a value with a comma or quote missing its quotes?)",
                "malformed_row", record.raw,
            ))
            return item
        payload: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        size = len(cells)
        for index, name, is_custom, convert, clears, target in self.converters:
            text = cells[index] if index < size else ""
            if not text or text.isspace():
                if clears:
                    (custom if is_custom else payload)[name] = None
                continue
            if text[0] == "'":
                text = unescape_formula(text)
            if convert is not None:
                try:
                    value = convert(text)
                except ValueError as exc:
                    item.errors.append(RowError(record.row, target.header, target.path, str(exc),
                                                "invalid", record.raw))
                    continue
            else:
                value = text
            (custom if is_custom else payload)[name] = value
        if custom:
            payload["custom"] = custom
        if not item.errors:
            item.payload = payload
        return item

    # -- one batch -> one transaction --

    def commit(self, items: list[_Item]) -> None:
        """Commit a batch; if the database refuses it, commit its rows one by one."""
        try:
            self._commit(items)
        except _RetryRowByRow:
            for item in items:
                try:
                    self._commit([item])
                except _RetryRowByRow as exc:
                    self._commit([self._refused(item, exc.cause)])

    def _refused(self, item: _Item, cause: Exception) -> _Item:
        if isinstance(cause, RapportError):
            text = cause.detail
        else:
            lines = str(getattr(cause, "orig", None) or cause).strip().splitlines()
            text = " ".join(line.strip() for line in lines[:2]) or type(cause).__name__
        error = RowError(item.row, "", "", f"refused by the database: {text}", "conflict", item.raw)
        return _Item(item.row, item.end, item.raw, item.digest, None, [error])

    def _commit(self, items: list[_Item]) -> None:
        importer = self.importer
        outcome = _Outcome()
        for item in items:
            outcome.errors.extend(item.errors)
        with importer.uow_factory() as uow:
            try:
                self._write(uow, [i for i in items if i.payload is not None], outcome)
            except (IntegrityError, DataError, Conflict) as exc:
                uow.rollback()
                raise _RetryRowByRow(exc) from exc
            outcome.counts.failed = len({e.row for e in outcome.errors})
            done = _Position(items[-1].end, items[-1].row, ImportCounts(), 0,
                             items[-1].digest.hexdigest())
            done.counts.add(self.position.counts)
            done.counts.add(outcome.counts)
            self._emit(outcome.errors)
            done.errors_bytes = self.report.size()
            if importer.options.dry_run:
                uow.rollback()
                self.position = done
                return
            if outcome.proof:  # if we die between commit and save, the proof tells
                self.checkpoint.save(self.position, (done, outcome.proof))
            uow.commit()
        self.checkpoint.save(done)
        self.position = done

    def _emit(self, errors: list[RowError]) -> None:
        errors.sort(key=lambda e: e.row)
        self.report.write(errors)
        if self.on_error:
            for error in errors:
                self.on_error(error)

    def _write(self, uow: UnitOfWork, items: list[_Item], outcome: _Outcome) -> None:
        """Write in rounds (a key seen again is written after the first, as an update)
        and in chunks of at most ``bulk_limit`` rows."""
        if not items:
            return
        key = self.importer.upsert_on
        rounds: list[list[_Item]] = []
        seen: dict[Any, int] = {}
        for item in items:
            value = item.payload.get(key) if key and item.payload else None
            n = 0
            if value is not None:
                n = seen.get(value, 0)
                seen[value] = n + 1
            while len(rounds) <= n:
                rounds.append([])
            rounds[n].append(item)
        limit = self.importer.settings.bulk_limit
        last: BulkResult | None = None
        for round_items in rounds:
            for start in range(0, len(round_items), limit):
                result = self._write_chunk(uow, round_items[start:start + limit], outcome)
                if result and (result.created or len(result.updated) > len(result.unchanged)):
                    last = result
        if last is not None:
            outcome.proof = self._proof(uow, last)

    def _write_chunk(
        self, uow: UnitOfWork, items: list[_Item], outcome: _Outcome
    ) -> BulkResult | None:
        """``bulk_write`` is all or nothing: leave out the rows it blames and try again."""
        importer = self.importer
        upsert = importer.upsert_on if importer.upsert_on != "id" else None
        remaining = items
        while remaining:
            payloads = [i.payload for i in remaining if i.payload is not None]
            try:
                result = importer.records.bulk_write(
                    uow, importer.actor, importer.spec.name, payloads, upsert_on=upsert
                )
            except ValidationFailed as exc:
                blamed = self._blame(exc, remaining)
                outcome.errors.extend(e for errors in blamed.values() for e in errors)
                remaining = [item for n, item in enumerate(remaining) if n not in blamed]
                continue
            except NotFound as exc:  # one row updating an id that does not exist
                item = remaining[0]
                outcome.errors.append(RowError(item.row, self.plan.header_for("id"), "id",
                                               exc.detail, "not_found", item.raw))
                return None
            outcome.counts.created += len(result.created)
            outcome.counts.unchanged += len(result.unchanged)
            outcome.counts.updated += len(result.updated) - len(result.unchanged)
            return result
        return None

    def _blame(self, exc: ValidationFailed, items: list[_Item]) -> dict[int, list[RowError]]:
        """Which rows the errors name (``records[3].email``), as row errors."""
        blamed: dict[int, list[RowError]] = {}
        for error in exc.errors:
            match = _BLAME.match(error.field)
            if match:
                n, path = int(match.group(1)), match.group(2)
            elif len(items) == 1:
                n, path = 0, error.field
            else:
                continue
            if n >= len(items):
                continue
            item = items[n]
            header = self.plan.header_for(path) or self.plan.header_for(path.split(".")[0])
            blamed.setdefault(n, []).append(
                RowError(item.row, header, path, error.message, error.code, item.raw)
            )
        if not blamed:  # not about any one row (e.g. a limit): nothing can be written
            raise ImportAborted(exc.detail, errors=exc.errors)
        return blamed

    def _proof(self, uow: UnitOfWork, result: BulkResult) -> dict[str, Any] | None:
        """The last change record of this transaction: found after a crash only if committed."""
        unchanged = set(result.unchanged)
        changed = [*result.created, *(i for i in result.updated if i not in unchanged)]
        if not changed:
            return None
        table = ChangeRecord.__table__
        row = uow.session.execute(
            select(table.c.id, table.c.record_id, table.c.occurred_at)
            .where(table.c.object_type == self.importer.spec.name,
                   table.c.record_id == changed[-1])
            .order_by(table.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return {"change_id": row[0], "record_id": row[1], "occurred_at": row[2].isoformat()}
