"""vipkeeper/cli.py parses plain `check` and `run` command lines without click: same parameters as
the click commands, same output and exit status, and anything unusual is left to click."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from vipkeeper.cli import PLAIN_CHECK, PLAIN_RUN, RUN_FLOATS, parse_plain
from vipkeeper.config.check import check_file
from vipkeeper.config.cli import check
from vipkeeper.daemon.cli import run
from vipkeeper.daemon.start import run_daemon

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data" / "keepalived-samples" / "keepalived.conf.vrrp.localcheck"
# click 8.1 (Debian 12) mixes stderr into output unless told; 8.2 keeps them apart and has no switch
SEPARATE_STDERR = {"mix_stderr": False} if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters else {}


def click_tables(command: click.Command) -> tuple[dict[str, str], dict[str, str]]:
    values: dict[str, str] = {}
    flags: dict[str, str] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            table = flags if param.is_flag else values
            for opt in (*param.opts, *param.secondary_opts):
                table[opt] = str(param.name)
    return values, flags


def test_plain_tables_are_the_click_commands() -> None:
    assert PLAIN_CHECK == click_tables(check)
    assert PLAIN_RUN == click_tables(run)
    assert sorted(RUN_FLOATS) == sorted(p.name for p in run.params if getattr(p.type, "name", "") == "float")


def test_plain_entry_points_default_as_the_click_commands() -> None:
    # A plain command line passes only what it names (`vipkeeper check --no-host` reads the default file)
    for function, command in ((check_file, check), (run_daemon, run)):
        defaults = {p.name: p.default for p in inspect.signature(function).parameters.values()}
        assert defaults == command.make_context(command.name or "", []).params


@pytest.mark.parametrize("argv", [
    [], ["-f", "a.conf"], ["--use-file", "a.conf"], ["--use-file=a.conf"], ["-f", "a", "-f", "b"],
    ["-f", "a.conf", "--no-host", "--json", "-i", "node1"], ["--config-id=x", "--json"],
])
def test_plain_command_lines_parse_as_click_parses_them(argv: list[str]) -> None:
    ours = parse_plain(argv, *PLAIN_CHECK)
    assert ours is not None
    defaults = check.make_context("check", []).params
    assert {**defaults, **ours} == check.make_context("check", list(argv)).params


@pytest.mark.parametrize("argv", [
    ["-n", "-l", "--no-syslog", "--netns", "ns1", "-f", "a.conf", "-p", "x.pid", "--control-socket", "c.ctl",
     "--data-file", "d", "--vip-conflict-interval", "2.5", "-P", "--process-rescan-interval=0.1"],
    ["--dont-fork", "--pid", "/run/v.pid", "-s", "ns2", "--namespace", "ns3", "-S", "local0", "--log-json"],
])
def test_plain_run_command_lines_parse_as_click_parses_them(argv: list[str]) -> None:
    ours = parse_plain(argv, *PLAIN_RUN)
    assert ours is not None
    for name in RUN_FLOATS:
        if name in ours:
            ours[name] = float(ours[name])
    assert {**run.make_context("run", []).params, **ours} == run.make_context("run", list(argv)).params


@pytest.mark.parametrize("argv", [
    ["--help"], ["-h"], ["-f"], ["-f", "--json"], ["--use-file="], ["--json=1"], ["-Z"], ["extra"],
    ["-fa.conf"], ["--", "-f"], ["--no-hos"],
])
def test_anything_else_is_left_to_click(argv: list[str]) -> None:
    assert parse_plain(argv, *PLAIN_CHECK) is None


def test_plain_check_prints_and_exits_as_the_click_command() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    for argv in (["-f", str(SAMPLE)], ["-f", str(SAMPLE), "--no-host", "--json"], ["-f", "/nonexistent/k.conf"]):
        done = subprocess.run([sys.executable, "-m", "vipkeeper", "check", *argv], capture_output=True, text=True,
                              timeout=60, env=env, check=False)
        clicked = CliRunner(**SEPARATE_STDERR).invoke(check, argv)
        assert (done.returncode, done.stdout, done.stderr) == (clicked.exit_code, clicked.stdout, clicked.stderr)
        assert done.stdout or done.stderr


def test_plain_run_fails_as_the_click_command() -> None:
    """A start-up failure: the same one line and exit status whether click parsed the command line
    (`-nl`, combined flags, goes to click) or cli.py did (`-n -l`)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    outs = []
    for flags in (["-nl"], ["-n", "-l"]):
        done = subprocess.run([sys.executable, "-m", "vipkeeper", "run", *flags, "--no-syslog", "-f", "/nonexistent/k.conf",
                               "-p", "/nonexistent/v.pid"], capture_output=True, text=True, timeout=60, env=env, check=False)
        outs.append((done.returncode, done.stdout, done.stderr))
    assert outs[0] == outs[1]
    assert outs[0][0] == 1 and outs[0][2].startswith("Error: ") and "/nonexistent/k.conf" in outs[0][2]
