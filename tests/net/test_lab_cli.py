"""`vipkeeper lab` end to end: the JSON timeline of both scenarios, clean-up after a normal run
and after Ctrl-C, and the one-line refusal without root."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from vipkeeper.lab import cli as lab_cli
from vipkeeper.net.netns import NETNS_RUN_DIR

pytestmark = pytest.mark.net

LAB = [sys.executable, "-m", "vipkeeper", "lab"]


def namespaces_left(prefix: str) -> list[str]:
    return [n for n in os.listdir(NETNS_RUN_DIR) if n.startswith(prefix + "-")] if os.path.isdir(NETNS_RUN_DIR) else []


def processes_left(workdir: str) -> list[int]:
    """Processes whose command line names the lab's work dir (its haproxy, postfix, daemons)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if workdir.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_lab_both_scenarios_json() -> None:
    done = subprocess.run([*LAB, "--scenario", "both", "--json"], capture_output=True, text=True, timeout=90,
                          check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["ok"] and doc["total_s"] < 60
    phases = {p["name"]: p for p in doc["phases"]}
    assert list(phases) == ["setup", "election", "service-failover", "service-restore", "node-failover", "node-restore"]
    assert phases["election"]["master"] == "node1"
    assert [phases[n]["master"] for n in ("service-failover", "service-restore", "node-failover", "node-restore")] == [
        "node2", "node1", "node2", "node1"]
    svc = phases["service-failover"]
    kinds = [(e["node"], e["kind"]) for e in svc["events"]]
    assert kinds[0] == ("node1", "kill")
    assert ("node1", "vip-removed") in kinds and ("node2", "vip-added") in kinds and ("client", "garp") in kinds
    # the tracker's `delay 1` comes first, then node2's skew time (0.61 s), then the VIP moves
    assert 1000 <= svc["vip_added_ms"] <= 2600
    assert svc["garp_ms"] >= svc["vip_added_ms"] - 5
    node = phases["node-failover"]
    assert 3000 <= node["vip_added_ms"] <= 4200  # master-down interval 3 * 1 s + 0.61 s after the last advert
    assert node.get("left_behind") == "node1"
    prefix = phases["setup"]["namespaces"].rstrip("-*")
    assert namespaces_left(prefix) == []
    assert processes_left(phases["setup"]["workdir"]) == []
    assert not os.path.exists(phases["setup"]["workdir"])


def test_lab_ctrl_c_cleans_up() -> None:
    proc = subprocess.Popen(LAB, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    prefix = None
    out = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if line.startswith("== Setup ("):
                prefix = line.split("(", 1)[1].split("-*", 1)[0]
            if line.startswith("== Election"):
                break
        assert prefix, "".join(out)
        assert os.listdir(NETNS_RUN_DIR) and any(n.startswith(prefix) for n in os.listdir(NETNS_RUN_DIR))
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert proc.returncode == 130, err
    assert "Interrupted: cleaned up" in rest
    assert "Traceback" not in err
    assert namespaces_left(prefix) == []


def test_lab_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_cli.os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(lab_cli.lab, [])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: vipkeeper lab needs root (it creates network namespaces)"
