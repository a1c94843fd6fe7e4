"""``aezoo list``, ``aezoo info``, ``aezoo plugins``."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import registry
from ._common import json_option


@click.command("list")
@click.argument("pattern", required=False)
@click.option(
    "--pretrained", is_flag=True, help="List pretrained models (with their metrics) instead of architectures."
)
@json_option("Print JSON instead of a table.")
def list_cmd(pattern: str | None, pretrained: bool, as_json: bool) -> None:
    """List architectures, or pretrained models, whose name matches PATTERN (fnmatch, e.g. 'conv*')."""

    names = registry.list_models(pattern, pretrained=pretrained)
    rows: list[dict[str, Any]] = []
    if pretrained:
        for n in names:
            e = registry.get_pretrained(n)
            rows.append(
                {
                    "name": n,
                    "architecture": e.architecture,
                    "dataset": e.dataset,
                    "metrics": dict(e.metrics),
                    "repo_id": e.repo_id,
                    "description": e.description,
                }
            )
    else:
        owners = {r.name: r for r in registry.plugins() if r.status == "loaded"}
        rows = [
            {
                "name": n,
                "distribution": owners[n].distribution,
                "version": owners[n].version,
                "description": _first_line(registry.get_architecture(n).__doc__),
            }
            for n in names
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no match" + (f" for {pattern!r}" if pattern else ""), err=True)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        if pretrained:
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(r["metrics"].items()))
            click.echo(f"{r['name']:<{width}}  {r['architecture']:<10} {r['dataset']:<14} {metrics}")
        else:
            origin = "" if r["distribution"] == "aezoo" else f"  [{r['distribution']} {r['version']}]"
            click.echo(f"{r['name']:<{width}}  {r['description']}{origin}")


@click.command("info")
@click.argument("name")
@json_option("Print JSON instead of text.")
def info_cmd(name: str, as_json: bool) -> None:
    """Show the architecture, config, size and weights source of NAME."""

    data = registry.info(name)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    click.echo(f"{data['name']}  ({data['architecture']}, {data['distribution']})")
    if data["description"]:
        click.echo(f"  {data['description']}")
    click.echo(f"  parameters: {data['num_params']:,}")
    click.echo(f"  input shape: {tuple(data['input_shape'])}   latent dim: {data['latent_dim']}")
    click.echo("  config:")
    for k, v in sorted(data["config"].items()):
        click.echo(f"    {k} = {v!r}")
    if "weights" in data:
        w = data["weights"]
        if w["revision"]:
            click.echo(f"  weights: hf-hub:{w['repo_id']}@{w['revision']}")
        else:
            click.echo(f"  weights: bundled in weights/ (hf-hub:{w['repo_id']} not published yet)")
        click.echo(f"  sha256: {w['sha256']}")
        if w["metrics"]:
            click.echo("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(w["metrics"].items())))
    elif data["pretrained"]:
        click.echo("  pretrained: " + ", ".join(data["pretrained"]))


@click.command("plugins")
@json_option("Print JSON instead of a table.")
def plugins_cmd(as_json: bool) -> None:
    """Every entry point of the aezoo.architectures group: distribution, version, status, error."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", registry.PluginWarning)  # shown in the table instead
        records = registry.plugins()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    width = max((len(r.name) for r in records), default=4)
    for r in records:
        line = f"{r.name:<{width}}  {r.distribution} {r.version}  {r.status}"
        if r.error:
            line += f": {r.error}"
        click.echo(line)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""
