"""Data-subject requests: `rapport dsr ...`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Data-subject requests.", no_args_is_help=True)
