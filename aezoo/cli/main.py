"""Entry point of the ``aezoo`` command; commands are imported lazily so ``--help`` stays fast."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import click

from .._version import __version__

# command name -> "module:attribute" inside aezoo.cli
COMMANDS = {
    "list": "registry:list_cmd",
    "info": "registry:info_cmd",
    "plugins": "registry:plugins_cmd",
    "train": "training:train_cmd",
    "eval": "evaluation:eval_cmd",
    "reconstruct": "evaluation:reconstruct_cmd",
    "encode": "applications:encode_cmd",
    "detect": "applications:detect_cmd",
    "drift": "drift:drift_cmd",
    "denoise": "applications:denoise_cmd",
    "generate": "applications:generate_cmd",
    "interpolate": "interpolation:interpolate_cmd",
    "export": "export:export_cmd",
    "pretrain": "layerwise:pretrain_cmd",
    "bundle": "bundle:bundle_cmd",
    "publish": "hub:publish_cmd",
    "pull": "hub:pull_cmd",
    "release": "hub:release_cmd",
    "new-plugin": "scaffold:new_plugin_cmd",
}


class LazyGroup(click.Group):
    """A group whose subcommands live in other modules and are imported on use.

    It also turns every :class:`aezoo.core.errors.AezooError` into one line on stderr and exit 1:
    a user's mistake never shows a traceback.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name].split(":")
            try:
                return getattr(importlib.import_module(f"aezoo.cli.{module}"), attr)
            except (ImportError, AttributeError):
                return None  # a command whose module is not in this build
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            near = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(map(repr, near))}?" if near else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from ..core.errors import AezooError

        try:
            return super().invoke(ctx)
        except AezooError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # a path the user gave: missing, not writable, on a full disk
            where = f": {e.filename}; check the path and its permissions" if e.filename else ""
            raise click.ClickException(f"{e.strerror or e}{where}") from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="aezoo")
def cli() -> None:
    """aezoo: a model zoo of autoencoders.

    \b
    aezoo list                      architectures (aezoo list --pretrained: trained models)
    aezoo info conv-mnist           config, size and source of a model
    aezoo train conv --dataset mnist --epochs 5 --out runs/conv
    aezoo eval runs/conv --dataset mnist
    """


def _one_line_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    click.echo(f"warning: {message}", err=True)


def main() -> None:
    import warnings

    warnings.showwarning = _one_line_warning  # a broken plugin is one line, not a source dump
    cli(prog_name="aezoo")


if __name__ == "__main__":  # pragma: no cover
    main()  # click exits with the command's status
