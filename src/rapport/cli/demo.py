"""``rapport demo load``: deterministic demo data (filled in by the demo-data work)."""

from __future__ import annotations

import typer

from rapport.cli import app

demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("load")
def demo_load(
    scale: int = typer.Option(1, "--scale", help="1 = a small set that loads in seconds"),
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing if data exists"),
) -> None:
    """Load demo data (not yet implemented)."""
    raise typer.Exit(code=0)
