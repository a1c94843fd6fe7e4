"""``aezoo publish`` and ``aezoo pull``."""

from __future__ import annotations

import click


@click.command("publish")
@click.argument("model_or_dir")
@click.option(
    "--repo",
    "repo_id",
    default=None,
    metavar="ORG/NAME",
    help="Hub repository (default for a pretrained name: its repo).",
)
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("--branch", default=None, help="Commit to this branch (created from main if needed).")
@click.option("--token", default=None, help="Hugging Face token (default: HF_TOKEN or `hf auth login`). Never printed.")
@click.option("--message", "-m", default=None, help="Commit message.")
def publish_cmd(
    model_or_dir: str, repo_id: str | None, private: bool, branch: str | None, token: str | None, message: str | None
) -> None:
    """Publish MODEL_OR_DIR (a model directory or a pretrained name) to the Hub in one commit.

    Prints the commit hash and the pinned name to load it with.
    """
    from ..hub import publish

    commit = publish(model_or_dir, repo_id, private=private, branch=branch, token=token, commit_message=message)
    from ..hub import parse_repo_spec

    repo = repo_id or _default_repo(model_or_dir)
    parse_repo_spec(repo)
    click.echo(commit)
    click.echo(f"hf-hub:{repo}@{commit}")


@click.command("pull")
@click.argument("spec", metavar="ORG/NAME[@REVISION]")
@click.option("--token", default=None, help="Hugging Face token for a private repo. Never printed.")
def pull_cmd(spec: str, token: str | None) -> None:
    """Download ORG/NAME (at REVISION) into the Hugging Face cache; prints its path and sha256."""
    from ..hub import pull
    from ..serialization import WEIGHTS_NAME, sha256_file

    path = pull(spec, token=token)
    click.echo(str(path))
    weights = path / WEIGHTS_NAME
    if weights.is_file():
        click.echo(f"sha256 {sha256_file(weights)}  {WEIGHTS_NAME}")


def _default_repo(name: str) -> str:
    from ..registry import get_pretrained

    return get_pretrained(name).repo_id
