"""``aezoo bundle``: evaluate a trained model directory and write its metrics, figures and card."""

from __future__ import annotations

import click

from ._common import data_options, invocation, nll_samples_option


@click.command("bundle")
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("--name", required=True, help="The model's published name, e.g. conv-mnist (repo aezoo/NAME by default).")
@data_options
@click.option("--repo", default=None, help="Hub repository for the card's load instructions [default: aezoo/NAME].")
@nll_samples_option("Importance samples for the NLL of models that estimate one (e.g. vae).")
@click.option(
    "--reproduce",
    "reproduce",
    multiple=True,
    metavar="COMMAND",
    help="A command that reproduces the directory, in order (repeatable); the card lists them.",
)
@click.option(
    "--probe", is_flag=True, help="Add the linear-probe accuracy of the codes (and of PCA) to the metrics and card."
)
def bundle_cmd(
    directory: str,
    name: str,
    dataset: str,
    data_dir: str | None,
    repo: str | None,
    nll_samples: int,
    reproduce: tuple[str, ...],
    probe: bool = False,
) -> None:
    """Evaluate DIRECTORY on its test split; write metrics.json, eval.json, figures and the README.md card.

    \b
    aezoo train mlp --dataset mnist --epochs 30 --out weights/mlp-mnist
    aezoo bundle weights/mlp-mnist --name mlp-mnist --dataset mnist
    """
    from aezoo.training.bundle import bundle

    commands = list(reproduce) or [invocation(click.get_current_context())]
    metrics = bundle(
        directory,
        name=name,
        dataset=dataset,
        data_dir=data_dir,
        repo_id=repo,
        nll_samples=nll_samples,
        reproduce=commands,
        probe=probe,
    )
    click.echo(", ".join(f"{k}={v:.5g}" for k, v in sorted(metrics.items())))
    click.echo(f"bundled {directory} (metrics.json, eval.json, figures, README.md)")
