"""``lakehouse lineage``: lineage trees from the local store, replay into a DataHub GMS, DataHub Lite access.

    lakehouse lineage gold.training_documents --column token_ids --upstream   # back to the landing field
    lakehouse lineage bronze.documents --downstream --depth 2
    lakehouse lineage publish --server http://gms:8080 [--token T] [--pending-only]
    lakehouse lineage emit                                                   # record the spec's metadata now
    lakehouse lineage lite ls /lakehouse                                     # `datahub lite ...` on our store

The first form is the default command (``show``): any first argument that is not a subcommand is a table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from llm_lakehouse.core.settings import REPO_ROOT, Settings
from llm_lakehouse.core.spec import load_spec
from llm_lakehouse.datahub.config import LineageConfig
from llm_lakehouse.datahub.graph import Graph, tree, walk


class _ShowByDefault(TyperGroup):
    """Dispatches ``lakehouse lineage TABLE ...`` to ``show``, keeping the named subcommands."""

    def resolve_command(self, ctx: click.Context, args: list[str]):  # noqa: ANN201
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_ShowByDefault,
    help="Lineage in DataHub: trees from the local store, publish to a GMS.",
    no_args_is_help=True,
)
DEFAULT_SPEC = REPO_ROOT / "pipelines" / "corpus_nightly.yaml"


def _config():  # noqa: ANN202

    return LineageConfig.from_env(Settings.from_env())


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=200)


@app.command()
def show(
    name: Annotated[str, typer.Argument(metavar="URN_OR_TABLE", help="a dataset URN or <layer>.<table>")],
    column: Annotated[str | None, typer.Option("--column", "-c", help="follow one column")] = None,
    upstream: Annotated[
        bool, typer.Option("--upstream/--downstream", help="direction (default upstream)")
    ] = True,
    depth: Annotated[int, typer.Option("--depth", min=1, help="levels to follow")] = 10,
    lite: Annotated[bool, typer.Option("--lite", help="also read the DataHub Lite database")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the tree as nested JSON")] = False,
) -> None:
    """Print the lineage tree of a table or column from the local store."""
    from llm_lakehouse.datahub.store import read_aspects

    cfg = _config()
    graph = Graph.from_aspects(read_aspects(cfg, lite=lite))
    if not graph.edges and not graph.datasets:
        Console(stderr=True).print(
            f"[red]no lineage recorded yet in {cfg.root}[/red] (run a job or `lakehouse lineage emit`)"
        )
        raise typer.Exit(1)
    try:
        start = graph.resolve(name, cfg.catalog)
    except KeyError:
        names = sorted(graph.datasets)
        Console(stderr=True).print(
            f"[red]unknown table {name!r}[/red]; recorded datasets:\n  " + "\n  ".join(names)
        )
        raise typer.Exit(2) from None
    if column:
        cols = graph.columns(start)
        if cols and column not in cols:
            Console(stderr=True).print(
                f"[red]{name} has no column {column!r}[/red]; columns: {', '.join(cols)}"
            )
            raise typer.Exit(2)
        from datahub.emitter.mce_builder import make_schema_field_urn

        start = make_schema_field_urn(start, column)
    if as_json:
        print(json.dumps(walk(graph, start, cfg.catalog, upstream=upstream, depth=depth), indent=2))
        return
    _console().print(tree(graph, start, cfg.catalog, upstream=upstream, depth=depth))


@app.command()
def publish(
    server: Annotated[str, typer.Option("--server", help="DataHub GMS URL, e.g. http://datahub-gms:8080")],
    token: Annotated[
        str | None, typer.Option("--token", envvar="DATAHUB_GMS_TOKEN", help="access token")
    ] = None,
    pending_only: Annotated[
        bool, typer.Option("--pending-only", help="only events a GMS did not take")
    ] = False,
) -> None:
    """Replay what was recorded locally (the journal) into a DataHub GMS."""
    from llm_lakehouse.datahub.store import publish as replay

    cfg = _config()
    try:
        n = replay(cfg, server, token, pending_only=pending_only)
    except Exception as exc:
        Console(stderr=True).print(f"[red]publish to {server} failed:[/red] {str(exc).splitlines()[0]}")
        raise typer.Exit(1) from None
    Console(stderr=True).print(f"published {n} events from {cfg.root} to {server}")


@app.command()
def emit(
    spec_path: Annotated[Path, typer.Option("--spec", help="pipeline spec (YAML)")] = DEFAULT_SPEC,
) -> None:
    """Record the spec's datasets, DAG and tasks now (jobs do this on every run)."""
    from llm_lakehouse.datahub import mcps, store

    cfg = _config()
    report = store.emit(cfg, mcps.spec_mcps(load_spec(spec_path), cfg))
    Console(stderr=True).print(
        f"{report.events} events -> {cfg.sink} ({'ok' if report.delivered else report.error})"
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lite(ctx: typer.Context) -> None:
    """Run ``datahub lite ARGS`` on this lakehouse's DataHub Lite database (e.g. ``ls /``, ``get --urn U``)."""
    from llm_lakehouse.datahub.store import environ_lite

    cfg = _config()
    cmd = [str(Path(sys.executable).parent / "datahub"), "lite", *ctx.args]
    raise typer.Exit(subprocess.run(cmd, env=environ_lite(cfg), check=False).returncode)
