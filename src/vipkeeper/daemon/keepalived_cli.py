"""keepalived 2.2.7's command line, for vipkeeper used as a drop-in.

Rule: a unit, script or runbook written for keepalived runs unchanged against vipkeeper:
`keepalived --dont-fork $DAEMON_ARGS`, `keepalived -t -f FILE`, `keepalived -v`,
`keepalived --signum=JSON`. So this command takes every option of `keepalived --help` (2.2.7)
with keepalived's meaning where it concerns the VRRP side, and refuses the options of the
health checker / IPVS / BFD side with one line and exit status 1 (keepalived's status for a bad
option) instead of starting a daemon that silently lacks what was asked for.

How it is reached (vipkeeper/cli.py): a program named `keepalived` (symlink, alias, or
`python -m vipkeeper` under that argv[0]), or `vipkeeper` whose first argument is an option other
than vipkeeper's own `-h/--help/--version`. Everything else is `vipkeeper SUBCOMMAND`.

Measured on keepalived 2.2.7 (tests/net/test_keepalived_cmdline.py repeats these):
`--signum=NAME` prints the number on stdout, exit 0; an unknown name prints `Unknown sigfunc NAME`
on stderr, exit 1. `-v` prints `Keepalived v2.2.7 (...)` on stderr, exit 0. An unknown option
prints `Unknown option -Z`, exit 1. `-t` exits 0 when the file is clean and 5 when it has errors.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import sys

import click

from vipkeeper.daemon import logsetup

KEEPALIVED_VERSION = "2.2.7"
DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
DEFAULT_PID = "/run/keepalived.pid"
DEFAULT_VRRP_PID = "/run/vrrp.pid"
CONFIG_TEST_FAILED = 5  # keepalived's exit status for `-t` on a file with errors

# Options of keepalived's other subsystems: (flag as given, what it is for).
UNSUPPORTED = {
    "check": ("-C/--check", "keepalived's health checker (LVS)"),
    "all_children": ("--all", "keepalived's checker and BFD child processes"),
    "dont_release_ipvs": ("-I/--dont-release-ipvs", "IPVS (LVS)"),
    "genhash": ("-T/--genhash", "keepalived's genhash utility"),
    "checkers_pid": ("-c/--checkers_pid", "keepalived's health-checker process"),
    "bfd_pid": ("-b/--bfd_pid", "keepalived's BFD process"),
}


def signum_of(name: str) -> int | None:
    from vipkeeper.daemon.runtime import SIGNUM

    sig = SIGNUM.get(name)
    return None if sig is None else int(sig)


def _umask(text: str) -> int:
    """strtoul(text, 0): 0x.. hex, 0.. octal, else decimal, as keepalived reads -u."""
    t = text.strip().lower()
    if t.startswith("0x"):
        return int(t, 16)
    if t.startswith("0") and len(t) > 1:
        return int(t, 8)
    return int(t, 10)


@click.command(name="keepalived", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--use-file", "config_file", default=DEFAULT_CONFIG, show_default=True, metavar="FILE",
              help="Use the specified configuration file.")
@click.option("-P", "--vrrp", is_flag=True, help="Only run with VRRP subsystem (vipkeeper has only that one).")
@click.option("-B", "--no_bfd", is_flag=True, help="Don't run BFD subsystem (vipkeeper never does).")
@click.option("-l", "--log-console", is_flag=True, help="Log messages to local console.")
@click.option("-D", "--log-detail", is_flag=True, help="Detailed log messages.")
@click.option("-S", "--log-facility", default=None, metavar="([0-7]|local[0-7]|user|daemon)",
              help="Set syslog facility to LOG_LOCAL[0-7], user or daemon (default).")
@click.option("-G", "--no-syslog", is_flag=True, help="Don't log via syslog.")
@click.option("-u", "--umask", "umask", default=None, metavar="MASK", help="umask for file creation (in numeric form).")
@click.option("-X", "--release-vips", is_flag=True,
              help="Drop VIP on transition from signal (vipkeeper always drops VIPs when it leaves MASTER).")
@click.option("-V", "--dont-release-vrrp", is_flag=True,
              help="Don't remove VRRP VIPs on daemon stop (and send no priority-0 advert).")
@click.option("-R", "--dont-respawn", is_flag=True, help="Don't respawn child processes (vipkeeper has none).")
@click.option("-n", "--dont-fork", is_flag=True, help="Don't fork the daemon process.")
@click.option("-d", "--dump-conf", is_flag=True, help="Dump the configuration data (into the log, at start).")
@click.option("-p", "--pid", "pid_file", default=DEFAULT_PID, show_default=True, metavar="FILE",
              help="Use specified pidfile for parent process.")
@click.option("-r", "--vrrp_pid", "vrrp_pid_file", default=DEFAULT_VRRP_PID, show_default=True, metavar="FILE",
              help="Use specified pidfile for VRRP child process (vipkeeper's one process).")
@click.option("-a", "--address-monitoring", is_flag=True,
              help="Report all address additions/deletions notified via netlink (not implemented; ignored).")
@click.option("-x", "--snmp", is_flag=True, help="Enable SNMP subsystem (vipkeeper has none: a warning, then ignored).")
@click.option("-A", "--snmp-agent-socket", default=None, metavar="FILE", help="SNMP master agent socket (ignored, see -x).")
@click.option("-s", "--namespace", "netns", default=None, metavar="NAME", help="Run in network namespace NAME.")
@click.option("-m", "--core-dump", is_flag=True, help="Produce core dump if terminate abnormally.")
@click.option("-M", "--core-dump-pattern", default=None, is_flag=False, flag_value="core", metavar="[PATN]",
              help="Allow core dumps; the system core_pattern is left unchanged (keepalived would set it).")
@click.option("-e", "--all-config", is_flag=True,
              help="Error if any configuration file is missing (vipkeeper reports missing includes in any case).")
@click.option("-i", "--config-id", default=None, metavar="ID",
              help="Skip any configuration lines beginning '@' that don't match id.")
@click.option("--signum", default=None, metavar="SIGFUNC",
              help="Print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON.")
@click.option("-t", "--config-test", default=None, is_flag=False, flag_value="", metavar="[LOG_FILE]",
              help="Check the configuration for obvious errors, output to stderr by default.")
@click.option("-v", "--version", "show_version", is_flag=True, help="Display the version number.")
@click.option("-C", "--check", is_flag=True, help="Not supported: keepalived's health checker (LVS).")
@click.option("--all", "all_children", is_flag=True, help="Not supported: keepalived's checker/BFD children.")
@click.option("-I", "--dont-release-ipvs", is_flag=True, help="Not supported: IPVS.")
@click.option("-T", "--genhash", is_flag=True, help="Not supported: keepalived's genhash utility.")
@click.option("-c", "--checkers_pid", default=None, metavar="FILE", help="Not supported: health-checker process.")
@click.option("-b", "--bfd_pid", default=None, metavar="FILE", help="Not supported: BFD process.")
@click.option("--control-socket", default=None, metavar="PATH",
              help="vipkeeper: control socket for `vipkeeper status` [/run/vipkeeper/vipkeeper.ctl].")
@click.option("--metrics", "metrics_listen", default=None, metavar="ADDRESS:PORT",
              help="vipkeeper: serve Prometheus metrics on ADDRESS:PORT.")
@click.option("--snapshot-file", default="/run/vipkeeper/vipkeeper.json", show_default=True, metavar="FILE",
              help="vipkeeper: where SIGUSR1 also writes vipkeeper's own JSON snapshot.")
@click.option("--log-ident", default=logsetup.KEEPALIVED_IDENT, show_default=True, metavar="NAME",
              help="vipkeeper: syslog/journal identifier.")
@click.option("--dump-dir", default=None, metavar="DIR", hidden=True,
              help="Put keepalived's dump files in DIR instead of /tmp (tests).")
def keepalived(**opts: object) -> None:
    """keepalived 2.2.7's command line, run by vipkeeper (the VRRP side of keepalived)."""
    for key, (flag, what) in UNSUPPORTED.items():
        if opts.get(key):
            click.echo(f"{flag} is not supported: vipkeeper implements keepalived's VRRP side only, not {what}",
                       err=True)
            sys.exit(1)
    if opts["signum"] is not None:
        number = signum_of(str(opts["signum"]))
        if number is None:
            click.echo(f"Unknown sigfunc {opts['signum']}", err=True)
            sys.exit(1)
        click.echo(str(number))
        sys.exit(0)
    if opts["show_version"]:
        from vipkeeper import __version__

        # Tools gate features on `Keepalived v(\S+)` from `keepalived -v`: the first line names the
        # keepalived release whose behaviour this one follows.
        click.echo(f"Keepalived v{KEEPALIVED_VERSION} (vipkeeper {__version__}, keepalived-compatible VRRP daemon)",
                   err=True)
        click.echo(f"vipkeeper {__version__}: VRRP side of keepalived {KEEPALIVED_VERSION}; "
                   "no LVS health checker, BFD or SNMP", err=True)
        sys.exit(0)
    facility_text = opts["log_facility"]
    facility = logsetup.parse_facility(str(facility_text)) if facility_text is not None else "daemon"
    if opts["config_test"] is not None:
        sys.exit(config_test(str(opts["config_file"]), opts["config_id"], str(opts["config_test"]),
                             facility_ok=facility is not None, facility_text=facility_text))
    if opts["umask"] is not None:
        try:
            os.umask(_umask(str(opts["umask"])))
        except ValueError:
            click.echo(f"Invalid umask '{opts['umask']}'", err=True)
            sys.exit(1)
    if opts["core_dump"] or opts["core_dump_pattern"] is not None:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    logsetup.configure(console=bool(opts["log_console"]), syslog=not opts["no_syslog"],
                       detail=bool(opts["log_detail"]), facility=facility or "daemon", ident=str(opts["log_ident"]))
    import logging

    log = logging.getLogger("vipkeeper.daemon")
    if facility is None:
        log.error("Invalid log facility '%s'", facility_text)
    if opts["snmp"] or opts["snmp_agent_socket"]:
        log.warning("SNMP (-x/-A) is not provided by vipkeeper; running without it")
    if opts["address_monitoring"]:
        log.info("-a/--address-monitoring is not implemented; ignored")
    if opts["core_dump_pattern"] is not None:
        log.info("-M: core dumps allowed; the system core_pattern is left as it is")

    from vipkeeper.daemon.cli import in_dump_dir, launch
    from vipkeeper.daemon.run_options import RunOptions

    data, stats, js = in_dump_dir(opts["dump_dir"], "/tmp/keepalived.data", "/tmp/keepalived.stats",  # type: ignore[arg-type]
                                  "/tmp/keepalived.json")
    options = RunOptions(config_file=str(opts["config_file"]), config_id=opts["config_id"],  # type: ignore[arg-type]
                         netns=opts["netns"], pid_file=str(opts["pid_file"]),  # type: ignore[arg-type]
                         control_socket=opts["control_socket"], metrics_listen=opts["metrics_listen"],  # type: ignore[arg-type]
                         data_file=data, stats_file=stats, json_file=js,
                         snapshot_file=str(opts["snapshot_file"]) or None,
                         release_on_stop=not opts["dont_release_vrrp"])
    vrrp_pid = str(opts["vrrp_pid_file"])
    launch(options, dont_fork=bool(opts["dont_fork"]),
           extra_pid_files=(vrrp_pid,) if vrrp_pid and vrrp_pid != options.pid_file else (),
           dump_conf=bool(opts["dump_conf"]))


def config_test(path: str, config_id: object, log_file: str, *, facility_ok: bool = True,
                facility_text: object = None) -> int:
    """`keepalived -t[LOG_FILE]`: vipkeeper's `check` verdict with keepalived's exit status
    (0 clean, 5 errors, 6 scripts without enable_script_security) and output (stderr, or LOG_FILE)."""
    from vipkeeper.config.cli import check

    if not os.path.exists(path):
        message = f"Config files missing '{path}'."
        code = CONFIG_TEST_FAILED
        captured = ""
    else:
        args = ["-f", path] + (["-i", str(config_id)] if config_id else [])
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            try:
                check.main(args, prog_name="keepalived -t", standalone_mode=False)
                code = 0
            except SystemExit as exc:
                # check's statuses are keepalived's (0, 5, 6) except 1, "vipkeeper would not
                # run this", for which keepalived -t says 5
                code = 0 if exc.code in (0, None) else exc.code if exc.code in (5, 6) else CONFIG_TEST_FAILED
            except click.ClickException as exc:
                buffer.write(f"{exc.format_message()}\n")
                code = CONFIG_TEST_FAILED
        captured = buffer.getvalue()
        message = ""
    if not facility_ok:
        captured = f"Invalid log facility '{facility_text}'\n" + captured
        code = CONFIG_TEST_FAILED
    text = captured + (message + "\n" if message else "")
    if log_file:
        try:
            with open(log_file, "w") as handle:
                handle.write(text)
        except OSError as exc:
            click.echo(f"Unable to open config-test log file {log_file}: {exc.strerror}", err=True)
            return 1
    else:
        sys.stderr.write(text)
    return code


def main(args: list[str], prog_name: str = "keepalived") -> None:
    """Run keepalived's command line on `args` with keepalived's error wording and statuses."""
    if "-h" in args or "--help" in args:  # keepalived prints its usage on stderr, exit 0
        with click.Context(keepalived, info_name=prog_name) as ctx:
            click.echo(keepalived.get_help(ctx), err=True)
        sys.exit(0)
    try:
        keepalived.main(args, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.NoSuchOption as exc:
        click.echo(f"Unknown option {exc.option_name}", err=True)
        sys.exit(1)
    except click.exceptions.UsageError as exc:
        click.echo(exc.format_message(), err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    sys.exit(0)
