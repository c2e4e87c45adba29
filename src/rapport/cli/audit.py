"""Audit log: `rapport audit verify` and `rapport audit export`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Audit log.", no_args_is_help=True)
