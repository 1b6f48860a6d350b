"""The `vipkeeper` command.

A program named `keepalived` (symlink or alias), or `vipkeeper` followed by an option that is
not vipkeeper's own (-h/--help/--version), is keepalived's command line (daemon/keepalived_cli.py):
`vipkeeper -f FILE --dont-fork` runs the daemon as `keepalived` would.

Each subcommand lives beside the code it drives (config/cli.py, diagnose/cli.py, ...) and is
imported only when it is invoked: `vipkeeper check` must not pay for pyroute2 or asyncio, and a
broken optional dependency of one subcommand must not take the others down.

click (command_group.py) is imported only when needed: a plain `vipkeeper check` or `vipkeeper
run` command line (only the command's own options, spelt out) is parsed here and goes straight
to config/check.py or daemon/start.py, so neither a configuration test nor the daemon's start-up
pays for importing click (issue 18). Anything else -- help, a
mistake, combined short flags -- goes to click, which parses and reports it as it always did.
`main` (the click group) is still reachable as `vipkeeper.cli.main`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from vipkeeper.commands import COMMANDS  # noqa: F401  (the table, as vipkeeper.cli.COMMANDS)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any, NoReturn

OWN_OPTIONS = frozenset({"-h", "--help", "--version"})


def keepalived_style(argv: list[str]) -> bool:
    """Whether argv is keepalived's command line rather than `vipkeeper SUBCOMMAND ...`."""
    if os.path.basename(argv[0]) == "keepalived":
        return True
    return len(argv) > 1 and argv[1].startswith("-") and argv[1] not in OWN_OPTIONS


# `vipkeeper check`'s options as its click definition (config/cli.py) has them, for the plain
# command lines parsed without click: (options taking a value, flags), each flag -> parameter.
# tests/unit/test_cli_dispatch.py fails if this drifts from the click command.
PLAIN_CHECK = ({"-f": "path", "--use-file": "path", "-i": "config_id", "--config-id": "config_id"},
               {"--no-host": "no_host", "--json": "as_json"})
# ... and `vipkeeper run`'s (daemon/cli.py), as the systemd unit and the lab start the daemon.
PLAIN_RUN = ({"-f": "config_file", "--use-file": "config_file", "-S": "log_facility", "--log-facility": "log_facility",
              "-p": "pid_file", "--pid": "pid_file", "-i": "config_id", "--config-id": "config_id",
              "-s": "netns", "--namespace": "netns", "--netns": "netns", "--control-socket": "control_socket",
              "--metrics": "metrics_listen", "--data-file": "data_file", "--stats-file": "stats_file",
              "--json-file": "json_file", "--snapshot-file": "snapshot_file", "--dump-dir": "dump_dir",
              "--log-ident": "log_ident", "--process-rescan-interval": "process_rescan_interval",
              "--vip-conflict-interval": "vip_conflict_interval"},
             {"-n": "dont_fork", "--dont-fork": "dont_fork", "-l": "log_console", "--log-console": "log_console",
              "-D": "log_detail", "--log-detail": "log_detail", "--log-json": "log_json", "--no-syslog": "no_syslog",
              "-P": "vrrp", "--vrrp": "vrrp"})
RUN_FLOATS = ("process_rescan_interval", "vip_conflict_interval")


def parse_plain(args: list[str], values: dict[str, str], flags: dict[str, str]) -> dict[str, Any] | None:
    """The parameters of a plain command line -- each option spelt out as `-f FILE`,
    `--use-file FILE`, `--use-file=FILE` or a bare flag, the last one winning as in click -- or
    None for anything else (help, an unknown or malformed option, a value that looks like an
    option, a positional argument, combined short flags), which click then parses and reports."""
    params: dict[str, Any] = {}
    i = 0
    while i < len(args):
        name, eq, attached = args[i].partition("=") if args[i].startswith("--") else (args[i], "", "")
        if name in flags and not eq:
            params[flags[name]] = True
        elif name in values and eq:
            if not attached:
                return None
            params[values[name]] = attached
        elif name in values and i + 1 < len(args) and not args[i + 1].startswith("-"):
            i += 1
            params[values[name]] = args[i]
        else:
            return None
        i += 1
    return params


def entry() -> None:
    """Console entry point that turns Ctrl-C into exit status 130 instead of a traceback."""
    daemon = keepalived_style(sys.argv) or (len(sys.argv) > 1 and sys.argv[1] == "run")
    if daemon:  # before any other import: a reload or a stray signal must not kill it meanwhile
        from vipkeeper.daemon.signal_table import early_signal_handlers

        early_signal_handlers()
    try:
        if keepalived_style(sys.argv):
            from vipkeeper.daemon import keepalived_cli

            prog = os.path.basename(sys.argv[0])
            keepalived_cli.main(sys.argv[1:], prog_name="vipkeeper" if prog == "__main__.py" else prog)
        if len(sys.argv) > 1 and sys.argv[1] == "check":
            params = parse_plain(sys.argv[2:], *PLAIN_CHECK)
            if params is not None:
                plain_check(params)
        if len(sys.argv) > 1 and sys.argv[1] == "run":
            params = parse_plain(sys.argv[2:], *PLAIN_RUN)
            try:
                for name in RUN_FLOATS:
                    if params is not None and name in params:
                        params[name] = float(params[name])
            except ValueError:
                params = None  # click says what is wrong with it
            if params is not None:
                plain_run(params)
        from vipkeeper.command_group import main

        main()
    except KeyboardInterrupt:
        sys.exit(130)


def plain_check(params: dict[str, Any]) -> NoReturn:
    from vipkeeper.config.check import check_file

    with as_click_would():
        sys.exit(check_file(**params))


def plain_run(params: dict[str, Any]) -> NoReturn:
    from vipkeeper.daemon.start import StartFailure, run_daemon

    with as_click_would():
        try:
            run_daemon(**params)
        except StartFailure as exc:  # click's ClickException: `Error: ...`, exit status 1
            print(f"Error: {exc}", file=sys.stderr)
            sys.exit(1)
        sys.exit(0)


@contextlib.contextmanager
def as_click_would() -> Iterator[None]:
    """Ctrl-C (or EOF) as click's standalone mode reports it: an empty line, `Aborted!`, status 1."""
    try:
        yield
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        print("Aborted!", file=sys.stderr)
        sys.exit(1)


def __getattr__(name: str) -> Any:
    """`vipkeeper.cli.main` (and its group class): the click group, imported on first use."""
    if name in ("main", "LazyGroup"):
        from vipkeeper import command_group

        return getattr(command_group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    entry()
