"""What every `tiegraph` command shares: the --json switch, the error exit, figures printed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer

AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def fail(message: str) -> typer.Exit:
    """Print `message` as an error; the caller raises the returned exit (exit code 1)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def echo_figures(figures: Mapping[str, Any], as_json: bool) -> None:
    """One JSON object, or one `name  value` line per figure with the values aligned."""
    if as_json:
        typer.echo(json.dumps(figures))
        return
    width = max((len(name) for name in figures), default=0) + 2
    for name, value in figures.items():
        typer.echo(f"{name:<{width}}{value}")
