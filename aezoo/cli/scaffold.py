"""``aezoo new-plugin``."""

from __future__ import annotations

import click


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write the package (default: ./NAME). Must not exist or be empty.",
)
@click.option(
    "--arch-name", default=None, help="Architecture (entry-point) name; default: NAME without 'aezoo-', '-' as '_'."
)
def new_plugin_cmd(name: str, directory: str | None, arch_name: str | None) -> None:
    """Create the plugin package NAME (e.g. aezoo-contractive): a model, pyproject, README, tests.

    \b
    aezoo new-plugin aezoo-myae
    cd aezoo-myae && pip install -e ".[test]" && python -m pytest -q
    """
    from ..registry.scaffold import new_plugin, plugin_names

    path = new_plugin(name, directory, arch_name=arch_name)
    names = plugin_names(name, arch_name)
    click.echo(
        f"created {path}: distribution {names['distribution']}, package {names['package']}, "
        f"architecture {names['arch']!r}"
    )
    click.echo(f'next: cd {path} && pip install -e ".[test]" && python -m pytest -q')
