"""``aezoo publish``, ``aezoo pull`` and ``aezoo release``."""

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
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Overall time bound in seconds for the upload (default: $AEZOO_HUB_TIMEOUT or 30).",
)
def publish_cmd(
    model_or_dir: str,
    repo_id: str | None,
    private: bool,
    branch: str | None,
    token: str | None,
    message: str | None,
    timeout: float | None,
) -> None:
    """Publish MODEL_OR_DIR (a model directory or a pretrained name) to the Hub in one commit.

    Prints the commit hash and the pinned name to load it with.
    """
    from ..hub.transport import parse_repo_spec
    from ..loading.publish import publish

    commit = publish(
        model_or_dir, repo_id, private=private, branch=branch, token=token, commit_message=message, timeout=timeout
    )

    repo = repo_id or _default_repo(model_or_dir)
    parse_repo_spec(repo)
    click.echo(commit)
    click.echo(f"hf-hub:{repo}@{commit}")


@click.command("pull")
@click.argument("spec", metavar="ORG/NAME[@REVISION]")
@click.option("--token", default=None, help="Hugging Face token for a private repo. Never printed.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Overall time bound in seconds (default: $AEZOO_HUB_TIMEOUT or 30).",
)
def pull_cmd(spec: str, token: str | None, timeout: float | None) -> None:
    """Download ORG/NAME (at REVISION) into the Hugging Face cache; prints its path and sha256."""
    from ..hub.transport import pull
    from ..io.serialization import WEIGHTS_NAME, sha256_file

    path = pull(spec, token=token, timeout=timeout)
    click.echo(str(path))
    weights = path / WEIGHTS_NAME
    if weights.is_file():
        click.echo(f"sha256 {sha256_file(weights)}  {WEIGHTS_NAME}")


def _default_repo(name: str) -> str:
    from ..registry.architectures import get_pretrained

    return get_pretrained(name).repo_id


@click.command("release")
@click.option(
    "--weights",
    "weights_dir",
    default="weights",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder of bundles (NAME/model.safetensors, config.json, metrics.json).",
)
@click.option(
    "--manifest",
    default="aezoo/pretrained.json",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The manifest to pin the commits in (a plugin's: <package>/pretrained.json).",
)
@click.option("--org", default="aezoo", show_default=True, help="Hub namespace: each bundle goes to ORG/NAME.")
@click.option(
    "--package",
    default=None,
    help="The distribution users pip install (named in the cards); default: the one registering the architecture.",
)
@click.option("--only", "names", multiple=True, metavar="NAME", help="Release only this bundle (repeatable).")
@click.option("--token", default=None, help="Hugging Face token with write access. Never printed.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Time bound in seconds for each bundle's upload (default: $AEZOO_HUB_TIMEOUT or 30).",
)
def release_cmd(
    weights_dir: str,
    manifest: str,
    org: str,
    package: str | None,
    names: tuple[str, ...],
    token: str | None,
    timeout: float | None,
) -> None:
    """Publish every bundle in WEIGHTS to ORG/NAME (one commit each, with its card) and pin the commits.

    Bundles whose pinned commit already holds them are left alone, so re-running changes nothing.
    """
    from ..hub.release import release
    from ..loading.publish import distribution_of

    release(
        weights_dir,
        manifest,
        org=org,
        package=package,
        names=list(names) or None,
        token=token,
        echo=click.echo,
        distribution=distribution_of,
        timeout=timeout,
    )
