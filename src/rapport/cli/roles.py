"""Roles: `rapport role list|show|grant`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Roles.", no_args_is_help=True)
