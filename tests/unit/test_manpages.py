"""The generated man pages stay true to the code: every command, option, signal handler and
keyword appears, the hand-written parts (exit status, signals, partly supported keywords) match
what the code does, and `man --warnings` renders both pages without a warning."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest

from vipkeeper import manpages
from vipkeeper.cli import COMMANDS, main
from vipkeeper.config import keywords as kw
from vipkeeper.config import loads
from vipkeeper.daemon import runtime


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("man")
    written = manpages.write(out)
    return {p.name: p for p in written}


def test_every_command_and_option_is_on_the_page(pages) -> None:
    text = pages["vipkeeper.8"].read_text()
    ctx = click.Context(main, info_name="vipkeeper", **main.context_settings)
    for name in COMMANDS:
        assert f'.SS "vipkeeper {manpages.code(name)}"' in text
        command = main.get_command(ctx, name)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for opt in param.opts + param.secondary_opts:
                    assert f"\\fB{manpages.code(opt)}\\fR" in text, f"{name} {opt} missing"
    # options of the top-level group too (the CLI may grow keepalived-style options there)
    for param in main.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert f"\\fB{manpages.code(param.opts[-1])}\\fR" in text


def test_hand_written_parts_cover_the_code() -> None:
    ctx = click.Context(main, info_name="vipkeeper", **main.context_settings)
    own_words = {name for name in COMMANDS
                 if any(p.lower().startswith("exit status:") for p in manpages.paragraphs(main.get_command(ctx, name).help or ""))}
    assert set(manpages.EXIT_STATUS) | own_words == set(COMMANDS), "a command without an EXIT STATUS"
    assert not set(manpages.EXIT_STATUS) & own_words, "EXIT_STATUS repeats what a command's help says"
    for name in COMMANDS:
        assert manpages.exit_status(name, main.get_command(ctx, name))
    assert set(manpages.SIGNAL_FUNCTIONS) == set(runtime.SIGNUM), "a signal function without a SIGNALS entry"
    for name in manpages.OWN_KEYWORDS:
        assert any(name in t and t[name].status == "ok" for t in kw.TABLES.values()), f"{name} is no keyword any more"


def _instance(extra: str) -> str:
    return ("vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 100\n"
            + extra + "  virtual_ipaddress {\n    192.0.2.50/24\n  }\n}\n")


# keyword -> (a use of the part that is not acted on, the severity check gives it)
PARTIAL_SAMPLES = {
    "auth_type": ("  authentication {\n    auth_type AH\n    auth_pass secret\n  }\n", "error"),
}


def test_partly_supported_keywords_still_report_themselves() -> None:
    assert set(PARTIAL_SAMPLES) == set(manpages.PARTIAL)
    for keyword, (text, severity) in PARTIAL_SAMPLES.items():
        assert any(kw_table.get(keyword) and kw_table[keyword].status == "ok" for kw_table in kw.TABLES.values()), \
            f"{keyword} is no longer an 'ok' keyword; update manpages.PARTIAL"
        found = [d.severity for d in loads(_instance(text)).diagnostics]
        assert severity in found, f"{keyword}: no '{severity}' diagnostic any more ({found}); update manpages.PARTIAL"


def test_every_keyword_is_classified_on_the_conf_page(pages) -> None:
    text = pages["vipkeeper.conf.5"].read_text()
    sections = {m.group(1): body for m, body in zip(re.finditer(r'^\.SH "([^"]+)"$', text, re.MULTILINE),
                                                      re.split(r'^\.SH "[^"]+"$', text, flags=re.MULTILINE)[1:])}
    for block, table in kw.TABLES.items():
        title = next(t for t in sections if t.lower().startswith(block))
        body = sections[title]
        for name, spec in table.items():
            assert f"\\fB{manpages.code(name)}\\fR" in body, f"{block}: {name} missing"
            if spec.status != "ok":
                group = "Refused unless opted out:" if spec.refuse else {"ignored": "Ignored:",
                                                                         "unsupported": "Not supported:"}[spec.status]
                listed = body.split(group, 1)[1].split(".PP", 1)[0]
                assert f"\\fB{manpages.code(name)}\\fR" in listed, f"{block}: {name} not under {group}"
    instance = sections["VRRP_INSTANCE"]
    assert "\\fBpriority\\fR" not in instance.split("Refused unless opted out:", 1)[1]


@pytest.mark.parametrize("name", ["vipkeeper.8", "vipkeeper.conf.5"])
def test_man_renders_without_warnings(pages, name: str) -> None:
    done = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(pages[name])], check=False, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LC_ALL": "C.UTF-8"},
                          timeout=60)
    assert done.returncode == 0
    assert done.stderr == "", done.stderr
    assert re.search(r"^NAME$", done.stdout, re.MULTILINE)
