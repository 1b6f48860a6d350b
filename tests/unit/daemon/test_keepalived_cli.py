"""keepalived's command line (daemon/keepalived_cli.py) and its dispatch (vipkeeper/cli.py):
which argv is keepalived's, the signal table, -S and -u parsing, and the refusal of the other
subsystems' options. (tests/net/test_keepalived_cmdline.py compares against keepalived itself.)"""

from __future__ import annotations

import signal

import pytest
from click.testing import CliRunner

from vipkeeper.cli import keepalived_style
from vipkeeper.daemon import keepalived_cli
from vipkeeper.daemon.logsetup import parse_facility
from vipkeeper.daemon.runtime import IGNORED_SIGNALS, SIGNUM, STOP_SIGNALS


@pytest.mark.parametrize("argv, expected", [
    (["/usr/sbin/keepalived"], True),
    (["/usr/local/bin/keepalived", "run"], True),
    (["vipkeeper", "-f", "x", "--dont-fork"], True),
    (["vipkeeper", "--signum=JSON"], True),
    (["vipkeeper", "-v"], True),
    (["vipkeeper", "run", "-f", "x"], False),
    (["vipkeeper", "check"], False),
    (["vipkeeper", "--help"], False),
    (["vipkeeper", "--version"], False),
    (["vipkeeper"], False),
])
def test_dispatch(argv: list[str], expected: bool) -> None:
    assert keepalived_style(argv) is expected


def test_signal_table_is_keepalived_2_2_7_on_glibc() -> None:
    assert {k: int(v) for k, v in SIGNUM.items()} == {
        "STOP": 15, "RELOAD": 1, "DATA": 10, "STATS": 12, "STATS_CLEAR": 63, "JSON": 36}


def test_every_terminating_signal_is_handled_or_ignored() -> None:
    handled = set(SIGNUM.values()) | set(STOP_SIGNALS) | set(IGNORED_SIGNALS) | {signal.SIGHUP}
    # default action terminate/core, minus the faults of the process itself and the uncatchable
    fatal_by_default = {signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTRAP, signal.SIGUSR1,
                        signal.SIGUSR2, signal.SIGALRM, signal.SIGTERM, signal.SIGSTKFLT, signal.SIGXCPU,
                        signal.SIGXFSZ, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO, signal.SIGPWR,
                        signal.SIGSYS, *range(signal.SIGRTMIN, signal.SIGRTMAX + 1)}
    assert fatal_by_default - handled == set()
    assert not set(IGNORED_SIGNALS) & (set(SIGNUM.values()) | set(STOP_SIGNALS))


@pytest.mark.parametrize("text, facility", [
    ("0", "local0"), ("7", "local7"), ("local0", "local0"), ("local5", "local5"), ("user", "user"),
    ("daemon", "daemon"), ("8", None), ("LOCAL0", None), ("local8", None), ("kern", None),
])
def test_log_facility_as_keepalived_reads_it(text: str, facility: str | None) -> None:
    assert parse_facility(text) == facility


@pytest.mark.parametrize("text, mask", [("077", 0o77), ("0177", 0o177), ("18", 18), ("0x3f", 0o77)])
def test_umask_is_strtoul_base_0(text: str, mask: int) -> None:
    assert keepalived_cli._umask(text) == mask


@pytest.mark.parametrize("args, flag", [
    (["-C"], "-C/--check"), (["--check"], "-C/--check"), (["-c", "/run/c.pid"], "-c/--checkers_pid"),
    (["-b", "/run/b.pid"], "-b/--bfd_pid"), (["-I"], "-I/--dont-release-ipvs"), (["--all"], "--all"),
    (["-T"], "-T/--genhash"),
])
def test_other_subsystems_are_refused_with_one_line(args: list[str], flag: str) -> None:
    result = CliRunner().invoke(keepalived_cli.keepalived, [*args, "-f", "/nonexistent"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{flag} is not supported")


def test_signum_and_version() -> None:
    runner = CliRunner()
    result = runner.invoke(keepalived_cli.keepalived, ["--signum=STATS_CLEAR"])
    assert result.exit_code == 0 and result.stdout == "63\n"
    result = runner.invoke(keepalived_cli.keepalived, ["--signum=json"])
    assert result.exit_code == 1 and "Unknown sigfunc json" in result.output
    result = runner.invoke(keepalived_cli.keepalived, ["-v"])
    assert result.exit_code == 0 and result.stdout == "" and result.stderr.startswith("Keepalived v2.2.7 ")


def test_config_test_exit_codes(tmp_path) -> None:
    good = tmp_path / "good.conf"
    good.write_text("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n"
                    " virtual_ipaddress {\n  192.0.2.9/24\n }\n}\n")
    broken = tmp_path / "broken.conf"
    broken.write_text("vrrp_instance VI_1 {\n interface eth0\n")
    log = tmp_path / "test.log"
    assert keepalived_cli.config_test(str(good), None, "") == 0
    assert keepalived_cli.config_test(str(broken), None, str(log)) == 5
    assert "broken.conf" in log.read_text()
    assert keepalived_cli.config_test(str(tmp_path / "missing.conf"), None, "") == 5
    assert keepalived_cli.config_test(str(good), None, "", facility_ok=False, facility_text="9") == 5
