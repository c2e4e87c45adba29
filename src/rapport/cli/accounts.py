"""Account commands: unlock, two-factor reset, token listing."""

from __future__ import annotations

import typer

app = typer.Typer(help="Account commands.", no_args_is_help=True)
