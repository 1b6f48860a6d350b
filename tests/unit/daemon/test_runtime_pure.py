"""The runtime's pure decisions: what counts as a change on reload, which socket an instance
shares, what the pid file refuses, how a log line looks."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket

import pytest

from vipkeeper.config import loads
from vipkeeper.daemon.logsetup import ConsoleFormatter, JsonFormatter
from vipkeeper.daemon.process import PidFile, PidFileError
from vipkeeper.daemon.runtime import _strip_where, endpoint_key, params_of

G4 = ipaddress.IPv4Address("224.0.0.18")
G6 = ipaddress.IPv6Address("ff02::12")

BASE = """
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress { 192.0.2.100/24 }
}
"""


def test_moved_lines_are_not_a_change() -> None:
    a = loads(BASE).instances[0]
    b = loads("\n# a comment added above\n\n" + BASE).instances[0]
    assert a.where.line != b.where.line
    assert a != b
    assert _strip_where(a) == _strip_where(b)


def test_changed_priority_is_a_change() -> None:
    a = loads(BASE).instances[0]
    b = loads(BASE.replace("priority 100", "priority 90")).instances[0]
    assert _strip_where(a) != _strip_where(b)


def test_instances_share_a_multicast_socket_but_not_a_unicast_one() -> None:
    two = BASE + BASE.replace("VI_1", "VI_2").replace("51", "52").replace(".100/", ".101/")
    a, b = loads(two).instances
    assert endpoint_key(a, G4, G6) == endpoint_key(b, G4, G6)
    uni = BASE.replace("priority 100", "priority 100\n unicast_src_ip 192.0.2.1\n unicast_peer { 192.0.2.2 }")
    u = loads(uni).instances[0]
    assert endpoint_key(u, G4, G6) != endpoint_key(a, G4, G6)
    assert endpoint_key(u, G4, G6)[1] == socket.AF_INET


def test_unicast_instances_drop_non_peers() -> None:
    uni = BASE.replace("priority 100", "priority 100\n unicast_src_ip 192.0.2.1\n unicast_peer { 192.0.2.2 }")
    config = loads(uni)
    params = params_of(config.instances[0], config, ipaddress.IPv4Address("192.0.2.1"))
    assert params.check_unicast_src is True
    assert params.unicast_peers == (ipaddress.IPv4Address("192.0.2.2"),)
    assert params.fast_handover_applies  # one peer: nobody else to race with


def test_pid_file_refuses_a_live_daemon(tmp_path) -> None:
    """Another daemon holds the pid file's lock: refused, whatever the file says."""
    import subprocess
    import sys

    path = tmp_path / "vk.pid"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from vipkeeper.daemon.process import PidFile; "
         "p = PidFile(sys.argv[1]); p.acquire(); print('held', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PidFileError, match=f"another vipkeeper runs as PID {holder.pid}"):
            PidFile(str(path)).acquire()
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_pid_file_ignores_a_recycled_pid_of_another_program(tmp_path) -> None:
    """No lock, and the PID written belongs to something that is not vipkeeper (the number was
    reused after a crash): the file is stale and taken over."""
    import subprocess

    path = tmp_path / "vk.pid"
    other = subprocess.Popen(["sleep", "30"])
    try:
        path.write_text(f"{other.pid}\n")  # alive, but not vipkeeper
        os.chmod(path, 0o644)
        pid = PidFile(str(path))
        pid.acquire()
        assert path.read_text().strip() == str(os.getpid())
        pid.release()
    finally:
        other.kill()
        other.wait()


def test_pid_file_replaces_a_stale_one_and_removes_its_own(tmp_path) -> None:
    path = tmp_path / "vk.pid"
    path.write_text("999999999\n")
    pid = PidFile(str(path))
    pid.acquire()
    assert path.read_text().strip() == str(os.getpid())
    pid.release()
    assert not path.exists()


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("vipkeeper.vrrp", logging.INFO, __file__, 1, message, (), None)


def test_console_lines_have_millisecond_stamps_and_keepalived_wording() -> None:
    line = ConsoleFormatter().format(_record("(VI_1) Entering MASTER STATE"))
    stamp, rest = line.split(" ", 1)
    assert len(stamp.split("T")[1].split(".")[1]) >= 3
    assert rest.endswith("]: (VI_1) Entering MASTER STATE")
    assert rest.startswith("vipkeeper[")


def test_json_lines_name_the_instance() -> None:
    obj = json.loads(JsonFormatter().format(_record("(VI_1) Entering BACKUP STATE")))
    assert obj["instance"] == "VI_1" and obj["message"] == "(VI_1) Entering BACKUP STATE"
