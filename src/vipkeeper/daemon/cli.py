"""`vipkeeper run`: the click definition of the daemon's command line, with keepalived's option
spellings where they exist. What it does (config first, process connector, netns, detach, pid
files, event loop) is daemon/start.py."""

from __future__ import annotations

from typing import Any

import click

from vipkeeper.daemon import start
from vipkeeper.daemon.start import DEFAULT_CONFIG, in_dump_dir  # noqa: F401  (keepalived_cli, tests)


@click.command(name="run", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--use-file", "config_file", default=DEFAULT_CONFIG, show_default=True,
              metavar="FILE", help="Configuration file (keepalived's language).")
@click.option("-n", "--dont-fork", is_flag=True, help="Stay in the foreground.")
@click.option("-l", "--log-console", is_flag=True, help="Log to stderr as well.")
@click.option("-D", "--log-detail", is_flag=True, help="Detailed (debug) log lines.")
@click.option("-S", "--log-facility", default="daemon", metavar="FACILITY", help="Syslog facility (daemon, local0..7).")
@click.option("--log-json", is_flag=True, help="Log JSON objects, one per line, to stderr.")
@click.option("--no-syslog", is_flag=True, help="Do not log to syslog/journald.")
@click.option("-p", "--pid", "pid_file", default="/run/vipkeeper.pid", show_default=True, metavar="FILE",
              help="PID file.")
@click.option("-i", "--config-id", default=None, metavar="ID", help="Select @ID conditional lines.")
@click.option("-s", "--namespace", "--netns", "netns", default=None, metavar="NAME",
              help="Run in network namespace NAME (process tracking still works).")
@click.option("--control-socket", default=None, metavar="PATH",
              help="Control socket for `vipkeeper status` [global_defs control_socket, or /run/vipkeeper/vipkeeper.ctl].")
@click.option("--metrics", "metrics_listen", default=None, metavar="ADDRESS:PORT",
              help="Serve Prometheus metrics on ADDRESS:PORT (off by default).")
@click.option("--data-file", default="/tmp/keepalived.data", show_default=True, metavar="FILE",
              help="Where SIGUSR1 writes keepalived's text data dump.")
@click.option("--stats-file", default="/tmp/keepalived.stats", show_default=True, metavar="FILE",
              help="Where SIGUSR2 and STATS_CLEAR write keepalived's text statistics.")
@click.option("--json-file", default="/tmp/keepalived.json", show_default=True, metavar="FILE",
              help="Where keepalived's JSON signal (`keepalived --signum=JSON`) writes its JSON dump.")
@click.option("--snapshot-file", default="/run/vipkeeper/vipkeeper.json", show_default=True, metavar="FILE",
              help="Where SIGUSR1 also writes vipkeeper's own JSON snapshot (as `vipkeeper status --json`).")
@click.option("--dump-dir", default=None, metavar="DIR", hidden=True,
              help="Put keepalived's three dump files in DIR instead of /tmp (tests).")
@click.option("--log-ident", default=None, metavar="NAME",
              help="Syslog/journal identifier [vipkeeper; Keepalived_vrrp under keepalived's command line].")
@click.option("--process-rescan-interval", default=0.2, show_default=True, type=float, hidden=True)
@click.option("--vip-conflict-interval", default=10.0, show_default=True, type=float, metavar="SECONDS",
              help="How often a Master checks that no other MAC answers for its VIPs (0: never).")
@click.option("-P", "--vrrp", is_flag=True, hidden=True, help="Accepted for keepalived compatibility.")
def run(**params: Any) -> None:
    """Run the VRRP daemon on a keepalived.conf (the VRRP side of keepalived)."""
    try:
        start.run_daemon(**params)
    except start.StartFailure as exc:
        raise click.ClickException(str(exc)) from None


def launch(options, *, dont_fork: bool, extra_pid_files: tuple[str, ...] = (),  # type: ignore[no-untyped-def]
           dump_conf: bool = False) -> None:
    """daemon/start.py's `launch`, its failures as click's errors (keepalived's command line)."""
    try:
        start.launch(options, dont_fork=dont_fork, extra_pid_files=extra_pid_files, dump_conf=dump_conf)
    except start.StartFailure as exc:
        raise click.ClickException(str(exc)) from None
