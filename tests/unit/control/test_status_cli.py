"""`vipkeeper status` against a real control server serving a sample snapshot."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading

import pytest
from click.testing import CliRunner

from vipkeeper.control.cli import format_duration, render, status
from vipkeeper.control.server import ControlServer


class ServerThread:
    """The control server on its own loop in a thread, so the blocking CLI can talk to it."""

    def __init__(self, path: str, snapshot: dict) -> None:
        self.path = path
        self.snapshot = snapshot
        self.loop = asyncio.new_event_loop()
        self.server = ControlServer(path, lambda: self.snapshot)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def sockpath():
    base = tempfile.mkdtemp(prefix="vkcli", dir="/tmp")
    os.chmod(base, 0o755)
    try:
        yield os.path.join(base, "run", "vipkeeper.ctl")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_format_duration():
    assert format_duration(4.24) == "4.2s"
    assert format_duration(42) == "42s"
    assert format_duration(192) == "3m12s"
    assert format_duration(7530) == "2h05m"
    assert format_duration(3 * 86400 + 4 * 3600 + 5) == "3d04h"
    assert format_duration(-3) == "0.0s", "clock skew never prints a negative time"


def test_status_table(sockpath, snapshot):
    with ServerThread(sockpath, snapshot):
        result = CliRunner().invoke(status, ["--socket", sockpath])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "\x1b[" not in out, "no ANSI codes when stdout is not a terminal"
    lines = out.splitlines()
    flat = "\n".join(" ".join(line.split()) for line in lines)  # column padding aside
    assert lines[0] == "vipkeeper 0.1.0  pid 4242  up 2h05m"
    assert "reloads 2 (1 failed: keepalived.conf:12: unknown keyword)" in flat
    assert "process tracking connector (enobufs 1, events 5000, rescans 2)" in flat
    assert "VI_1 MASTER for 3m12s" in flat
    assert "interface eth0 vrid 51 VRRPv3 IPv4 multicast advert 1s" in flat
    assert "priority base 100 effective 150 (+50 from trackers)" in flat
    assert "master this node" in flat
    assert "VIPs 192.0.2.25/24 on eth0 present\n192.0.2.26/24 on eth0 absent" in flat
    assert "TRACKER KIND STATE WEIGHT CONTRIB CHANGED" in flat
    assert "haproxy process up +50 +50 1m05s ago" in flat
    assert "chk_dns script down -20 0 -" in flat
    assert "drops ttl 3, vrid 5" in flat, "zero drop counters are left out"
    assert ("counters adverts sent 1234 received 7, transitions 3, became master 2, "
            "priority 0 received 1") in flat
    # the backup instance: who the master is, as last heard
    assert "VI_6 BACKUP for 4.5s (sync group G1)" in flat
    assert "master 2001:db8::1 priority 200, heard 0.4s ago" in flat
    assert "VRRPv3 IPv6 unicast" in flat
    assert "trackers none" in flat
    assert "chk_dns down 10 4 1 0.250s 1" in flat
    assert "haproxy 4 yes" in flat
    assert "dropped before matching an instance: checksum 2, no_instance 9" in flat
    assert "quorum witness (etcd)" in flat
    assert "VI_1 /vipkeeper/instance/VI_1 lb1 holding 1.40s fail_closed ok http://192.0.2.11:2379" in flat
    # labels and values line up in columns within an instance block
    block = lines[lines.index("VI_1  MASTER for 3m12s") + 1:]
    assert len({line.index(line.split()[1]) for line in block[:3]}) == 1


def test_status_json_is_the_raw_snapshot(sockpath, snapshot):
    with ServerThread(sockpath, snapshot):
        result = CliRunner().invoke(status, ["--socket", sockpath, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == snapshot


def test_status_colour_only_when_asked_for_a_terminal(sockpath, snapshot):
    with ServerThread(sockpath, snapshot):
        result = CliRunner().invoke(status, ["--socket", sockpath], color=True)
    assert result.exit_code == 0
    assert "\x1b[" in result.output and "MASTER" in result.output


def test_status_missing_socket_is_one_line_and_exit_1(sockpath):
    result = CliRunner().invoke(status, ["--socket", sockpath])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "does not exist: is vipkeeper running?" in result.output


def test_status_stale_socket_says_not_running(sockpath):
    import socket

    os.makedirs(os.path.dirname(sockpath))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sockpath)
    s.close()
    result = CliRunner().invoke(status, ["--socket", sockpath])
    assert result.exit_code == 1
    assert "vipkeeper is not running" in result.output


def _invoke_as_nobody(args: list[str]) -> tuple[int, str]:
    """Run the CLI in a forked child that dropped to uid/gid 65534 (the interpreter under /root
    is not executable by nobody, so a fresh `python -m vipkeeper` cannot be used)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest teardown, no exceptions escaping
        code = 99
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            result = CliRunner().invoke(status, args)
            os.write(write_end, json.dumps([result.exit_code, result.output]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, wstatus = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wstatus) == 0
    exit_code, output = json.loads(data)
    return exit_code, output


def test_status_as_non_root_is_refused_with_one_line(sockpath, snapshot):
    with ServerThread(sockpath, snapshot):
        code, output = _invoke_as_nobody(["--socket", sockpath])
        assert code == 1
        assert output == f"vipkeeper status: permission denied on {sockpath}: run as root\n"
        # an admin loosened the modes: the daemon's peer-credential check still refuses
        os.chmod(os.path.dirname(sockpath), 0o755)
        os.chmod(sockpath, 0o666)
        code, output = _invoke_as_nobody(["--socket", sockpath])
    assert code == 1
    assert output == "vipkeeper status: permission denied: the control socket is root-only\n"


def test_status_watch_refreshes_until_ctrl_c(sockpath, snapshot, monkeypatch):
    sleeps = []

    def fake_sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) % 2 == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr("vipkeeper.control.cli.time.sleep", fake_sleep)
    with ServerThread(sockpath, snapshot):
        result = CliRunner().invoke(status, ["--socket", sockpath, "--watch", "0.5"])
        default = CliRunner().invoke(status, ["--socket", sockpath, "--watch"])
    assert result.exit_code == 0, result.output
    assert sleeps[:2] == [0.5, 0.5]
    assert result.output.count("VI_1  MASTER") == 2
    assert "Traceback" not in result.output
    assert default.exit_code == 0 and sleeps[2] == 2.0, "--watch alone refreshes every 2 s"


def test_render_survives_a_sparse_snapshot():
    text = render({"daemon": {"pid": 1}, "instances": [{"name": "VI_X"}]})
    assert "VI_X  ?" in text
    flat = " ".join(text.split())
    assert "master none heard" in flat
    assert "priority base ? effective ?" in flat
    assert render({}).endswith("no VRRP instances")


def test_render_shows_vip_conflicts(snapshot):
    snapshot["instances"][0]["vip_conflicts"] = [
        {"address": "192.0.2.50", "mac": "02:00:00:00:00:0b", "since": snapshot["daemon"]["now"] - 4,
         "peer": "192.0.2.2 (VRID 51, priority 150)"}]
    text = render(snapshot)
    (line,) = [ln for ln in text.splitlines() if "CONFLICT" in ln]
    assert "192.0.2.50 also answered by 02:00:00:00:00:0b (VRRP router 192.0.2.2 (VRID 51, priority 150))" in line
    assert "for 4" in line
    snapshot["instances"][0]["vip_conflicts"] = []
    assert "CONFLICT" not in render(snapshot)


def test_status_table_says_degraded_and_waiting(sockpath, snapshot):
    snapshot["witnesses"][0].update(holder="lb2", holding=False, degraded=True, reachable=False,
                                    policy="fail_open", lease_remaining=None)
    with ServerThread(sockpath, snapshot):
        result = CliRunner().invoke(status, ["--socket", sockpath])
    flat = " ".join(result.output.split())
    assert "VI_1 /vipkeeper/instance/VI_1 lb2 waiting - fail_open DEGRADED http://192.0.2.11:2379" in flat
