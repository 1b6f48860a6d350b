"""The click group behind `vipkeeper SUBCOMMAND`: help, option parsing and errors for every
subcommand, each imported on first use (commands.py's COMMANDS).

Kept apart from vipkeeper/cli.py so that a plain `vipkeeper check -f FILE` or `vipkeeper run ...`
does not import click at all (start-up, issue 18): cli.py parses those itself and comes here for
everything else.
"""

from __future__ import annotations

import importlib

import click

from vipkeeper.commands import COMMANDS


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, short_help = entry
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("vipkeeper"):
                return _unavailable(cmd_name, short_help)
            raise
        command = getattr(module, attr)
        command.short_help = command.short_help or short_help
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every subcommand's module.
        rows = [(name, entry[2]) for name, entry in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str, short_help: str) -> click.Command:
    @click.command(name=name, help=short_help, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def stub(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"'{name}' is not available in this build")

    return stub


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vipkeeper")
def main() -> None:
    """vipkeeper: keepalived-compatible VRRP failover whose process tracking cannot race.

    Given keepalived's options and no command (`vipkeeper -f FILE --dont-fork`), or run under the
    name `keepalived`, it takes keepalived 2.2.7's command line (`vipkeeper -P --help` lists it).
    """
