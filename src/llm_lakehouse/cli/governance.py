"""``lakehouse governance``: the platform's governance policy checked over every pipeline spec.

    lakehouse governance check                        # every spec under pipelines/, against pipelines/governance.yaml
    lakehouse governance check pipelines/domains/support.yaml --policy my-policy.yaml --json
    lakehouse governance policies --out docker/minio/policies/consumers   # one S3 policy per consumer role
    airflow roles create $(lakehouse governance roles)                      # the Airflow roles the DAGs name

Exit codes: 0 every policy holds; 1 findings (each names its file and key); 2 a spec or the policy does not load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llm_lakehouse.core.errors import SpecError
from llm_lakehouse.core.governance import airflow_roles, consumer_policies, load_policy, pipeline_spec_files
from llm_lakehouse.core.governance import check as check_specs
from llm_lakehouse.core.settings import REPO_ROOT
from llm_lakehouse.core.spec import load_spec

app = typer.Typer(
    help="Governance as code: domains, data products, classifications, retention.", no_args_is_help=True
)
console = Console(stderr=True)
PIPELINES = REPO_ROOT / "pipelines"
DEFAULT_POLICY = PIPELINES / "governance.yaml"


def _load(specs: list[Path] | None) -> list:  # noqa: ANN202
    files: list[Path] = []
    for target in specs or [PIPELINES]:
        files += pipeline_spec_files(target) if target.is_dir() else [target]
    try:
        return [load_spec(f) for f in files]
    except SpecError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def check(
    specs: Annotated[
        list[Path] | None, typer.Argument(help="pipeline specs or folders of them (default: pipelines/)")
    ] = None,
    policy: Annotated[Path, typer.Option("--policy", help="the governance policy (YAML)")] = DEFAULT_POLICY,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Fail when a source lacks a domain, PII policy, classification or retention, when a product is served to a
    role not cleared for it, or when a restricted column is served to anyone."""
    loaded = _load(specs)
    try:
        rules = load_policy(policy)
    except SpecError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    findings = check_specs(loaded, rules)
    if as_json:
        print(
            json.dumps(
                {
                    "specs": [str(s.path) for s in loaded],
                    "policy": str(rules.path),
                    "findings": [{"file": str(f.file), "key": f.key, "message": f.message} for f in findings],
                },
                indent=2,
            )
        )
    else:
        # Plain lines, never wrapped: editors and CI annotations parse "file: key: message".
        for f in findings:
            typer.echo(str(f), err=True)
        sources = sum(len(s.sources) for s in loaded)
        products = sum(len(s.products) for s in loaded)
        summary = f"{len(loaded)} spec(s), {sources} source(s), {products} product(s) against {rules.path}"
        console.print(
            f"{len(findings)} finding(s) in {summary}" if findings else f"all policies hold: {summary}",
            highlight=False,
            markup=False,
        )
    if findings:
        raise typer.Exit(1)


@app.command()
def policies(
    specs: Annotated[
        list[Path] | None, typer.Argument(help="pipeline specs or folders of them (default: pipelines/)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="write <role>.json here instead of printing")
    ] = None,
    bucket: Annotated[
        str, typer.Option(help="the warehouse bucket (default: a placeholder to substitute)")
    ] = ("@BUCKET@"),
) -> None:
    """One S3 policy per consumer role, read-only on the tables of the products that list it: what the object
    store enforces for the identity provider's group of that name."""
    generated = consumer_policies(_load(specs), bucket)
    if out is None:
        print(json.dumps(generated, indent=2))
        return
    out.mkdir(parents=True, exist_ok=True)
    for stale in set(out.glob("*.json")) - {out / f"{r}.json" for r in generated}:
        stale.unlink()  # a role no product lists any more keeps no grant
    for role, doc in generated.items():
        (out / f"{role}.json").write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"{len(generated)} consumer polic(ies) in {out}", highlight=False)


@app.command()
def roles(
    specs: Annotated[
        list[Path] | None, typer.Argument(help="pipeline specs or folders of them (default: pipelines/)")
    ] = None,
) -> None:
    """The Airflow roles the specs' DAGs grant (one per line): the FAB auth manager needs them created before
    it parses the DAGs, e.g. ``airflow roles create $(lakehouse governance roles)``."""
    print("\n".join(airflow_roles(_load(specs))))
