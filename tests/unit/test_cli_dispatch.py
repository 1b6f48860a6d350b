"""vipkeeper/cli.py parses plain `check` command lines without click: same parameters as the click
command, same output and exit status, and anything unusual is left to click."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from vipkeeper.cli import PLAIN_CHECK, parse_plain
from vipkeeper.config.cli import check

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


def test_plain_check_table_is_the_click_commands() -> None:
    assert PLAIN_CHECK == click_tables(check)


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
