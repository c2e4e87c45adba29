"""Security alerts: `rapport security alerts`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Security alerts.", no_args_is_help=True)
