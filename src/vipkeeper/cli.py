"""The `vipkeeper` command.

A program named `keepalived` (symlink or alias), or `vipkeeper` followed by an option that is
not vipkeeper's own (-h/--help/--version), is keepalived's command line (daemon/keepalived_cli.py):
`vipkeeper -f FILE --dont-fork` runs the daemon as `keepalived` would.

Each subcommand lives beside the code it drives (config/cli.py, diagnose/cli.py, ...) and is
imported only when it is invoked: `vipkeeper check` must not pay for pyroute2 or asyncio, and a
broken optional dependency of one subcommand must not take the others down.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

# name -> (module, attribute, one-line help shown by `vipkeeper --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("vipkeeper.daemon.cli", "run", "Run the VRRP daemon on a keepalived.conf."),
    "check": ("vipkeeper.config.cli", "check", "Test a configuration file (keepalived -t)."),
    "lint": ("vipkeeper.diagnose.cli", "lint", "Find split-brain anti-patterns in one or several nodes' configs."),
    "doctor": ("vipkeeper.diagnose.cli", "doctor", "Read keepalived/vipkeeper logs and explain what went wrong."),
    "pidcheck": ("vipkeeper.track.pidcheck", "pidcheck", "Race-free `pidof -q`: exit 0 if every named process runs."),
    "decode": ("vipkeeper.vrrp.cli", "decode", "Decode VRRP frames from a pcap file or hex."),
    "status": ("vipkeeper.control.cli", "status", "Show the running daemon's instances, trackers and counters."),
    "watch": ("vipkeeper.diagnose.watch_cli", "watch",
              "Watch a LAN's VRRP, ARP and ND: two Masters, VIP conflicts, VRID collisions."),
    "lab": ("vipkeeper.lab.cli", "lab", "Build a two-node lab in network namespaces and show a live failover."),
}


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


OWN_OPTIONS = frozenset({"-h", "--help", "--version"})


def keepalived_style(argv: list[str]) -> bool:
    """Whether argv is keepalived's command line rather than `vipkeeper SUBCOMMAND ...`."""
    if os.path.basename(argv[0]) == "keepalived":
        return True
    return len(argv) > 1 and argv[1].startswith("-") and argv[1] not in OWN_OPTIONS


def entry() -> None:
    """Console entry point that turns Ctrl-C into exit status 130 instead of a traceback."""
    try:
        if keepalived_style(sys.argv):
            from vipkeeper.daemon import keepalived_cli

            prog = os.path.basename(sys.argv[0])
            keepalived_cli.main(sys.argv[1:], prog_name="vipkeeper" if prog == "__main__.py" else prog)
        main()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    entry()
