"""The generated man pages stay true to the code: every command, option, signal handler and
keyword appears, the hand-written parts (exit status, signals, partly supported keywords) match
what the code does, and `man --warnings` renders both pages without a warning."""

from __future__ import annotations

import ast
import inspect
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
    assert set(manpages.EXIT_STATUS) == set(COMMANDS), "a command without an EXIT STATUS entry (or a stale one)"
    tree = ast.parse(inspect.getsource(runtime.install_signal_handlers))
    handled = {node.attr for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr.startswith("SIG")}
    assert handled and handled == set(manpages.SIGNALS), f"handlers {handled} vs page {set(manpages.SIGNALS)}"
    tables = [kw.GLOBAL_DEFS, kw.INSTANCE]
    for name in manpages.OWN_KEYWORDS:
        assert any(name in t for t in tables), f"{name} is no keyword any more"


PARTIAL_SAMPLES = {
    "use_vmac": "  use_vmac\n",
    "virtual_routes": "  virtual_routes {\n    192.0.2.0/24 via 198.51.100.1\n  }\n",
    "auth_type": "  authentication {\n    auth_type AH\n    auth_pass secret\n  }\n",
    "unicast_peer": "  unicast_src_ip 192.0.2.1\n  unicast_peer {\n    192.0.2.2 min_ttl 250\n  }\n",
}


@pytest.mark.parametrize("keyword", sorted(manpages.PARTIAL))
def test_partly_supported_keywords_still_report_themselves(keyword: str) -> None:
    if keyword == "static_routes":
        text = "static_routes {\n  192.0.2.0/24 via 198.51.100.1 dev eth0\n}\n"
    else:
        text = ("vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n"
                "  priority 100\n" + PARTIAL_SAMPLES[keyword] +
                "  virtual_ipaddress {\n    192.0.2.50/24\n  }\n}\n")
    config = loads(text)
    unsupported = [d for d in config.diagnostics if d.severity == "unsupported"]
    assert unsupported, f"{keyword}: no 'unsupported' diagnostic any more; update manpages.PARTIAL"


def test_every_keyword_is_classified_on_the_conf_page(pages) -> None:
    text = pages["vipkeeper.conf.5"].read_text()
    for table in (kw.GLOBAL_DEFS, kw.INSTANCE, kw.SYNC_GROUP, kw.SCRIPT, kw.TRACK_PROCESS, kw.TRACK_FILE,
                  kw.AUTHENTICATION):
        for name in table:
            assert f"\\fB{manpages.code(name)}\\fR" in text, f"{name} missing"
    for name in [*kw.TOP_UNSUPPORTED, *kw.TOP_IGNORED]:
        assert f"\\fB{manpages.code(name)}\\fR" in text
    # the unsupported ones are listed under "Not supported" of their block
    instance = text.split('.SH "VRRP_INSTANCE"', 1)[1].split(".SH", 1)[0]
    refused = instance.split("Not supported", 1)[1].split(".TP", 1)[0]
    assert "\\fBvrf\\fR" in refused and "\\fBpriority\\fR" not in refused


@pytest.mark.parametrize("name", ["vipkeeper.8", "vipkeeper.conf.5"])
def test_man_renders_without_warnings(pages, name: str) -> None:
    done = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(pages[name])], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LC_ALL": "C.UTF-8"},
                          timeout=60)
    assert done.returncode == 0
    assert done.stderr == "", done.stderr
    assert re.search(r"^NAME$", done.stdout, re.M)
