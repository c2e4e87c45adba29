"""Data-hub sources and dead letters: ``rapport source …`` and ``rapport events …``.

``rapport source create NAME --channel web`` prints the write key on the last line of
stdout (scripts take it with ``| tail -1``); messages go to stderr. ``--mapping`` and the
``--signature*`` options set a webhook or MQTT source's mapping and its vendor-signature
check; the signing secret is read from a hidden prompt or, with ``--signing-secret-stdin``,
from stdin (never from the command line, where shell history and ``ps`` would keep it) and
is never printed.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rapport.bootstrap import Container, bootstrap
from rapport.errors import RapportError
from rapport.events import dead_letters, sources
from rapport.trust import audit

source_app = typer.Typer(help="Event sources and their write keys.", no_args_is_help=True)
events_app = typer.Typer(help="Hub events: dead letters and their replay.", no_args_is_help=True)
console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code=code)


def _operator() -> str:
    try:
        return "cli:" + getpass.getuser()[:50]
    except (KeyError, OSError):
        return "cli:unknown"


def _wide() -> Console:
    """Stdout, wide enough that piped tables keep codes and reasons on one line."""
    return Console(highlight=False, width=None if out.is_terminal else 200)


def _container() -> Container:
    return bootstrap()


MAPPING_HELP = "The source's mapping as JSON, or @FILE (docs/sources.md)"
SCHEMES_HELP = "Check vendor signatures on /v1/webhook: stripe, shopify or hmac"


def _mapping(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        mapping = json.loads(raw)
    except OSError as exc:
        raise _fail(f"--mapping: cannot read {text[1:]}: {exc.strerror}") from None
    except ValueError as exc:
        raise _fail(f"--mapping is not JSON: {exc}") from None
    if not isinstance(mapping, dict):
        raise _fail("--mapping must be a JSON object")
    return mapping


def _signing_secret(from_stdin: bool, *, may_keep: bool) -> str | None:
    """The secret from stdin or a hidden prompt; None (keep the current one) when the
    prompt is left empty on update."""
    if from_stdin:
        secret = sys.stdin.readline().strip()
    else:
        hint = " (Enter keeps the current one)" if may_keep else ""
        secret = str(typer.prompt(f"Signing secret{hint}", default="" if may_keep else None,
                                  hide_input=True, show_default=False, err=True)).strip()
    if not secret and not may_keep:
        raise _fail("the signing secret is empty")
    return secret or None


def _signature_block(scheme: str, options: dict[str, Any], secret: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {"scheme": scheme}
    block.update({k: v for k, v in options.items() if v is not None})
    if secret is not None:
        block["secret"] = secret
    return block


def _describe(mapping: dict[str, Any]) -> str:
    block = sources.public_mapping(mapping).get("signature")
    if not isinstance(block, dict):
        return "no signature check"
    return (f"{block.get('scheme')} signatures checked "
            f"({'secret set' if block.get('secret_set') else 'NO SECRET'})")


SignatureOpt = typer.Option(None, "--signature", help=SCHEMES_HELP)
HeaderOpt = typer.Option(None, "--signature-header", help="hmac: the header, e.g. "
                         "X-Hub-Signature-256")
AlgorithmOpt = typer.Option(None, "--signature-algorithm", help="hmac: sha256 (default), sha1 "
                            "or sha512")
EncodingOpt = typer.Option(None, "--signature-encoding", help="hmac: hex (default) or base64")
PrefixOpt = typer.Option(None, "--signature-prefix", help="hmac: text before the signature, "
                         "e.g. sha256=")
ToleranceOpt = typer.Option(None, "--signature-tolerance", min=1, max=86_400,
                            help="stripe: seconds the signed timestamp may be off (default 300)")
StdinOpt = typer.Option(False, "--signing-secret-stdin", help="Read the signing secret from "
                        "the first line of stdin instead of a hidden prompt")


def _options(header: str | None, algorithm: str | None, encoding: str | None,
             prefix: str | None, tolerance: int | None) -> dict[str, Any]:
    return {"header": header, "algorithm": algorithm, "encoding": encoding, "prefix": prefix,
            "tolerance_seconds": tolerance}


@source_app.command("create")
def source_create(
    name: str = typer.Argument(..., help="A unique name, e.g. Website"),
    channel: str = typer.Option(..., "--channel", help="web, app, pos, iot, api or import"),
    mapping: str = typer.Option(None, "--mapping", help=MAPPING_HELP),
    signature: str = SignatureOpt,
    signature_header: str = HeaderOpt,
    signature_algorithm: str = AlgorithmOpt,
    signature_encoding: str = EncodingOpt,
    signature_prefix: str = PrefixOpt,
    signature_tolerance: int = ToleranceOpt,
    secret_stdin: bool = StdinOpt,
) -> None:
    """Create a source; its write key is printed once (last line of stdout)."""
    chosen = _mapping(mapping)
    if signature is not None:
        chosen = {**(chosen or {}), "signature": _signature_block(
            signature, _options(signature_header, signature_algorithm, signature_encoding,
                                signature_prefix, signature_tolerance),
            _signing_secret(secret_stdin, may_keep=False))}
    container = _container()
    try:
        with container.uow() as uow:
            issued = sources.create_source(uow.session, name, channel, chosen,
                                           secret_key=container.settings.secret_key)
            audit.append(uow.session, container.settings.secret_key, "config_changed",
                         actor=_operator(), target=f"sources:{issued.source.id}",
                         details={"source": "created", "channel": issued.source.channel,
                                  **({"signature": signature} if signature else {})})
            uow.commit()
    except RapportError as exc:
        raise _fail(exc.detail) from None
    console.print(f"[green]source {issued.source.id} {escape(issued.source.name)} "
                  f"({issued.source.channel}) created[/green]"
                  + (f", {_describe(issued.source.mapping)}" if signature else "")
                  + "; keep the write key, it is not shown again:")
    out.print(issued.write_key)


@source_app.command("update")
def source_update(
    source: str = typer.Argument(..., help="The source's name or id"),
    name: str = typer.Option(None, "--name", help="A new name"),
    enabled: bool = typer.Option(None, "--enable/--disable", help="Accept or refuse its key"),
    mapping: str = typer.Option(None, "--mapping", help=MAPPING_HELP + "; without a "
                                "\"signature\" key the current signature check is kept"),
    signature: str = SignatureOpt,
    no_signature: bool = typer.Option(False, "--no-signature", help="Stop checking signatures"),
    signature_header: str = HeaderOpt,
    signature_algorithm: str = AlgorithmOpt,
    signature_encoding: str = EncodingOpt,
    signature_prefix: str = PrefixOpt,
    signature_tolerance: int = ToleranceOpt,
    secret_stdin: bool = StdinOpt,
) -> None:
    """Rename, enable or disable a source, or change its mapping or signature check."""
    if signature is not None and no_signature:
        raise _fail("--signature and --no-signature contradict each other")
    chosen = _mapping(mapping)
    container = _container()
    try:
        with container.session_factory() as session:
            source_id = dead_letters.resolve_source(session, source)
            current = sources.get_source(session, source_id or 0)
        if signature is not None or no_signature:
            chosen = dict(current.mapping) if chosen is None else chosen
            chosen["signature"] = None if no_signature else _signature_block(
                signature, _options(signature_header, signature_algorithm, signature_encoding,
                                    signature_prefix, signature_tolerance),
                _signing_secret(secret_stdin, may_keep="signature" in current.mapping))
        with container.uow() as uow:
            info = sources.update_source(uow.session, current.id, enabled=enabled,
                                         mapping=chosen, name=name,
                                         secret_key=container.settings.secret_key)
            changed = [f for f, v in (("name", name), ("enabled", enabled),
                                      ("mapping", chosen)) if v is not None]
            audit.append(uow.session, container.settings.secret_key, "config_changed",
                         actor=_operator(), target=f"sources:{info.id}",
                         details={"source": "changed", "fields": changed,
                                  **({"signature": signature or "removed"}
                                     if signature or no_signature else {})})
            uow.commit()
    except RapportError as exc:
        raise _fail(exc.detail) from None
    console.print(f"[green]source {info.id} {escape(info.name)} updated[/green] "
                  f"({'enabled' if info.enabled else 'disabled'}, {_describe(info.mapping)})")


@source_app.command("show")
def source_show(source: str = typer.Argument(..., help="The source's name or id")) -> None:
    """A source as JSON on stdout, its mapping included (a signing secret only as
    ``secret_set``)."""
    container = _container()
    try:
        with container.session_factory() as session:
            info = sources.get_source(session, dead_letters.resolve_source(session, source) or 0)
    except RapportError as exc:
        raise _fail(exc.detail) from None
    out.print(json.dumps(info.as_json(), ensure_ascii=False, indent=2), markup=False)


@source_app.command("list")
def source_list() -> None:
    """Sources with their channel, state, key prefix and last event."""
    container = _container()
    with container.session_factory() as session:
        rows = sources.list_sources(session)
    table = Table("id", "name", "channel", "enabled", "key prefix", "last event")
    for s in rows:
        table.add_row(str(s.id), escape(s.name), s.channel, "yes" if s.enabled else "no",
                      s.write_key_prefix, s.last_event_at.isoformat(timespec="seconds")
                      if s.last_event_at else "-")
    _wide().print(table)


def _filters(container: Container, code: str | None, source: str | None,
             status: str | None = None) -> dead_letters.Filters:
    try:
        with container.session_factory() as session:
            return dead_letters.Filters(source_id=dead_letters.resolve_source(session, source),
                                        code=code or None,
                                        status=dead_letters.check_status(status))
    except RapportError as exc:
        raise _fail(exc.detail) from None


@events_app.command("dead-letters")
def list_dead_letters(
    code: str = typer.Option(None, "--code", help="Only this reason code, e.g. missing_identity"),
    source: str = typer.Option(None, "--source", help="Only this source (name or id)"),
    status: str = typer.Option("open", "--status", help="open, replayed or discarded"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Newest first, at most"),
) -> None:
    """List dead letters (no payloads: read one with the API or the UI)."""
    container = _container()
    filters = _filters(container, code, source, status)
    with container.session_factory() as session:
        items, _next = dead_letters.list_dead_letters(session, filters, limit=limit)
    table = Table("id", "received", "source", "code", "reason", "status", "attempts")
    for d in items:
        table.add_row(str(d.id), d.received_at.isoformat(timespec="seconds"),
                      escape(d.source_name or "-"), d.code, escape(d.reason[:80]), d.status,
                      str(d.attempts))
    _wide().print(table)


@events_app.command("replay")
def replay(
    dead_letter_id: int = typer.Option(None, "--id", min=1, help="Replay this dead letter only"),
    code: str = typer.Option(None, "--code", help="Only open dead letters with this code"),
    source: str = typer.Option(None, "--source", help="Only this source (name or id)"),
) -> None:
    """Run open dead letters through the collector again (oldest first).

    Exit code 0: every one was stored; 1: some stayed open (their new reason is listed).
    """
    container = _container()
    if dead_letter_id is not None:
        ids = [dead_letter_id]
    else:
        filters = _filters(container, code, source)
        with container.session_factory() as session:
            ids = dead_letters.open_ids(session, filters)
    still_open: list[dead_letters.Replayed] = []
    replayed = 0
    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("replay", total=len(ids))
        for start in range(0, len(ids), 100):
            try:
                with container.uow() as uow:
                    chunk = [dead_letters.replay(uow.session, container.settings, i)
                             for i in ids[start:start + 100]]
                    uow.commit()
            except RapportError as exc:
                raise _fail(exc.detail) from None
            container.event_bus.publish([ref for o in chunk for ref in o.stored])
            replayed += sum(1 for o in chunk if o.status == "replayed")
            still_open += [o for o in chunk if o.status == "open"]
            progress.advance(task, len(chunk))
    close = getattr(container.event_bus, "close", None)
    if close is not None:
        close()
    console.print(f"{replayed} replayed, {len(still_open)} still open, "
                  f"{len(ids) - replayed - len(still_open)} dropped")
    for o in still_open[:50]:
        console.print(f"  {o.dead_letter_id}: {o.code}: {escape(o.reason or '')}")
    if still_open:
        raise typer.Exit(code=1)
