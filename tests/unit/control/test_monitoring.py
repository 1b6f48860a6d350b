"""The alert rules and the Grafana dashboard that ship in monitoring/: rules checked and unit-tested
by Prometheus' own `promtool`; every metric the rules and the dashboard use is one vipkeeper exports."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

from vipkeeper.control.exposition import generate_text
from vipkeeper.control.metrics import make_registry

ROOT = Path(__file__).resolve().parents[3] / "monitoring"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert Path(PROMTOOL).exists(), "promtool missing: install Debian's prometheus package (debian-packages.txt)"
    return subprocess.run([PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_rules_pass_promtool_check_and_unit_tests():
    check = _promtool("check", "rules", "vipkeeper-alerts.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "9 rules found" in check.stdout
    test = _promtool("test", "rules", "vipkeeper-alerts.test.yml")
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_rule_unit_tests_can_fail():
    """A broken expectation makes promtool fail: the suite above really evaluates the rules."""
    text = (ROOT / "vipkeeper-alerts.test.yml").read_text().replace('summary: "Split brain: 2 nodes',
                                                                    'summary: "Split brain: 3 nodes', 1)
    broken = ROOT / ".broken-test.yml"
    broken.write_text(text)
    try:
        assert _promtool("test", "rules", broken.name).returncode != 0
    finally:
        broken.unlink()


def _exported(snapshot: dict) -> set[str]:
    snap = copy.deepcopy(snapshot)  # the sample carries a VIP conflict (conftest.py)
    text = generate_text(make_registry(lambda: snap, process_metrics=False)).decode()
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_dashboard_and_rules_use_only_exported_metrics(snapshot):
    exported = _exported(snapshot)
    dash = json.loads((ROOT / "vipkeeper-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += re.findall(r"expr: (.*)", (ROOT / "vipkeeper-alerts.yml").read_text())
    used = {m for e in exprs for m in re.findall(r"\bvipkeeper_[a-z_]+", e)}
    assert used - exported == set()
    assert {"vipkeeper_vip_conflict", "vipkeeper_vrrp_state", "vipkeeper_vip_present"} <= used
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in dash["panels"])
