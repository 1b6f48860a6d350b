"""Finding 8 of issue 20: a planted notify_fifo was accepted.

A user made a fifo at the notify_fifo path before the daemon started; the daemon wrote its
state lines into it (and the user, who owns it, could write forged lines ahead of them). Now a
fifo found at the path must be ours (or the configured user's) and not writable by others, as
keepalived 2.4 requires - keepalived 2.2.7 (Debian's) still writes into it: measured here. Also:
the fifos are reopened at a reload (their script restarted, as keepalived does), and at shutdown
the fifo script reads the STOP lines and then end-of-file, instead of being killed mid-read.
"""

from __future__ import annotations

import os
import pwd
import signal
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

NOBODY = pwd.getpwnam("nobody")
VIP = "192.0.2.95/24"


def drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def config(work, fifo, script=None) -> str:
    g = ["script_user root", "enable_script_security", f"notify_fifo {fifo}"]
    if script:
        g.append(f"notify_fifo_script {script}")
    return vrrp_conf("VI_1", vrid=95, priority=200, vips=[VIP], state="MASTER", global_defs=g)


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_planted_fifo_owned_by_a_user_is_not_used(topology, kind) -> None:
    with Testbed(topology, ("a",), ipv6=False) as bed:
        work = bed.nodes["a"].workdir
        fifo = work / "notify.fifo"
        os.mkfifo(fifo, 0o666)
        os.chmod(fifo, 0o666)
        os.chown(fifo, NOBODY.pw_uid, NOBODY.pw_gid)
        # the attacker's end: they read what the daemon writes (and could write lines of their own)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            bed.start("a", kind=kind, conf=config(work, fifo))
            bed.wait_sole("a", VIP, 10.0)
            time.sleep(0.5)
            got = drain(reader)
            bed.stop("a")
            got += drain(reader)
        finally:
            os.close(reader)
        print(f"\n{kind}: the planted fifo received {got!r}")
        assert fifo.exists() and os.lstat(fifo).st_uid == NOBODY.pw_uid  # left as it was
        if kind == "keepalived":
            assert b'INSTANCE "VI_1" MASTER' in got  # 2.2.7 writes into a user's fifo
            return
        assert got == b""
        assert f"notify fifo {fifo} is not a fifo we own - not using (owned by uid {NOBODY.pw_uid})" \
            in bed.log_text("a")


def reader_script(work):
    path = work / "fifo_reader.sh"
    # slow on purpose: the STOP lines are still unread when the daemon is told to stop
    path.write_text(f"#!/bin/sh\necho \"start $$\" >> {work}/reader.log\n"
                    f"while read -r line; do sleep 0.2; echo \"$line\" >> {work}/reader.log; done < \"$1\"\n"
                    f"echo EOF >> {work}/reader.log\n")
    os.chmod(path, 0o755)
    return path


def wait_text(path, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{text!r} not in {path}: {path.read_text() if path.exists() else '(none)'}")


def test_fifo_script_reads_stop_lines_then_eof_and_is_restarted_at_reload(topology) -> None:
    with Testbed(topology, ("a",), ipv6=False) as bed:
        work = bed.nodes["a"].workdir
        fifo = work / "notify.fifo"
        script = reader_script(work)
        log = work / "reader.log"
        bed.start("a", conf=config(work, fifo, script))
        bed.wait_sole("a", VIP, 10.0)
        wait_text(log, 'INSTANCE "VI_1" MASTER', 5.0)
        hup = bed.daemon("a").kill(signal.SIGHUP)
        bed.daemon("a").log.wait_line(lambda line: "Reload finished" in line.text, 10.0, after=hup - 0.5)
        text = wait_text(log, "EOF", 3.0)  # the first reader saw end-of-file at the reload
        starts = [line for line in wait_text(log, "EOF\nstart ", 3.0).splitlines() if line.startswith("start ")]
        assert len(starts) == 2 and starts[0] != starts[1], text  # restarted, as keepalived does
        assert os.lstat(fifo).st_uid == 0
        bed.stop("a")
        text = log.read_text()
        after_reload = text.split(starts[1], 1)[1]
        assert 'INSTANCE "VI_1" STOP' in after_reload, text
        assert after_reload.rstrip().endswith("EOF"), text  # read everything, then exited by itself
        assert not fifo.exists()  # we made it, we removed it
