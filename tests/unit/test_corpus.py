"""Every configuration in the corpus (tests/data) reads without a traceback; keepalived's own samples
have no VRRP keyword we do not understand; each unsupported feature is named once at its line;
the seed configurations pass `check`. Compared with `keepalived -t` where that is cheap."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vipkeeper.config import load, loads

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("VIPKEEPER_CORPUS", REPO / "tests" / "data"))
SAMPLES = sorted((CORPUS / "keepalived-samples").glob("*"))
SEEDS = sorted((CORPUS / "seed").glob("*.conf"))


def test_corpus_is_present():
    assert SAMPLES, f"no keepalived samples under {CORPUS} (set VIPKEEPER_CORPUS)"
    assert SEEDS, f"no seed configurations under {CORPUS}"


def keepalived_unknown(path: Path) -> set[tuple[int, str]]:
    """(line, keyword) pairs keepalived -t calls unknown."""
    result = subprocess.run(["keepalived", "-t", "-l", "-D", "-f", str(path), "-i", "high"],
                            capture_output=True, text=True, timeout=30)
    return {(int(m.group(1)), m.group(2)) for m in
            re.finditer(r"Line (\d+)\) Unknown keyword '([^']*)'", result.stdout + result.stderr)}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_reads_and_understands_every_vrrp_keyword(path):
    config = load(str(path), config_id="high")
    unknown = {(d.where.line, re.search(r"'([^']*)'", d.message).group(1))
               for d in config.diagnostics if d.message.startswith("Unknown keyword")}
    # we call unknown only what keepalived 2.2.7 itself calls unknown (a sample's own typos)
    if unknown:
        assert shutil.which("keepalived"), "keepalived 2.2.7 must be installed (CI installs it)"
        assert unknown <= keepalived_unknown(path)
    unsupported = [d for d in config.diagnostics if d.severity == "unsupported"]
    sites = [(d.where.file, d.where.line) for d in unsupported]
    assert len(sites) == len(set(sites)), "an unsupported feature was reported twice at one line"
    for diagnostic in unsupported:
        assert diagnostic.where.file == str(path) and diagnostic.where.line > 0
    text = path.read_text()
    if "virtual_server " in text:  # refused (an error) unless vipkeeper_run_without virtual_server
        assert any("'virtual_server'" in d.message for d in config.diagnostics if d.severity == "error")
    assert len(config.instances) == text.count("vrrp_instance ")


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_seed_configs_pass_check(path):
    config = load(str(path))
    assert config.usable
    assert not [d for d in config.diagnostics if d.severity not in ("unsupported", "ignored")], config.diagnostics
    assert len(config.instances) == 1


REJECTED_BY_KEEPALIVED = """
vrrp_instance VI_1 {
  interface eth0
  priority 100
  virtual_ipaddress {
    192.0.2.1/24
  }
}
"""


def test_a_config_keepalived_rejects_we_reject(tmp_path):
    assert shutil.which("keepalived"), "keepalived 2.2.7 must be installed (CI installs it)"
    path = tmp_path / "bad.conf"
    path.write_text(REJECTED_BY_KEEPALIVED)
    result = subprocess.run(["keepalived", "-t", "-l", "-D", "-f", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert "virtual router id must be set" in result.stdout + result.stderr
    config = loads(REJECTED_BY_KEEPALIVED)
    assert not config.usable
    assert any("virtual router id must be set" in d.message for d in config.errors)
