"""keepalived's JSON and STATS_CLEAR signals (the numbers `keepalived --signum` prints) and a
handful of signals the daemon has no use for, sent to a vipkeeper Master: it writes the dumps,
keeps the VIP and keeps advertising; SIGTERM afterwards still hands over with priority 0 and the
Backup takes over within its skew time. Judged from the wire and netlink, not from log text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

VIP = "192.0.2.50/24"
ADV = 0.5
VRID = 51


def keepalived_signum(name: str) -> int:
    out = subprocess.run(["/usr/sbin/keepalived", f"--signum={name}"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def wait_file(path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=False) as tb:
        yield tb


def test_json_and_stats_clear_keep_the_master_and_sigterm_still_hands_over(bed: Testbed) -> None:
    json_sig, clear_sig = keepalived_signum("JSON"), keepalived_signum("STATS_CLEAR")
    assert (json_sig, clear_sig) == (36, 63)
    dumps = bed.nodes["a"].workdir / "dumps"
    dumps.mkdir()
    bed.start("a", conf=vrrp_conf(priority=150, vips=[VIP], advert_int=ADV),
              extra=["--dump-dir", str(dumps), "--snapshot-file", str(dumps / "snapshot.json")])
    bed.start("b", conf=vrrp_conf(priority=50, vips=[VIP], advert_int=ADV))
    bed.wait_sole("a", VIP, 3 * ADV + 3.0)
    bed.wait_adverts("a", 0, 3, 3.0, VRID)
    pid = bed.daemon("a").pid

    os.kill(pid, json_sig)
    assert wait_file(dumps / "keepalived.json", 3.0), "the JSON signal wrote no /tmp/keepalived.json equivalent"
    records = json.loads((dumps / "keepalived.json").read_text())
    assert records[0]["data"]["iname"] == "VI_1" and records[0]["data"]["state"] == 2
    assert records[0]["stats"]["advert_sent"] >= 3 and records[0]["stats"]["become_master"] == 1
    os.kill(pid, clear_sig)
    assert wait_file(dumps / "keepalived.stats", 3.0), "STATS_CLEAR wrote no stats file"
    # signals nobody should send, each of which would kill a process without a handler
    for sig in (signal.SIGALRM, signal.SIGPROF, signal.SIGVTALRM, signal.SIGIO, signal.SIGRTMIN,
                signal.SIGRTMIN + 6, signal.SIGRTMAX):
        os.kill(pid, sig)

    after = time.time()
    bed.wait_adverts("a", after, 4, 4 * ADV + 2.0, VRID)  # still the Master, still advertising
    assert bed.daemon("a").running
    assert bed.holders(VIP) == ["a"]
    assert bed.removed_at("a", VIP, 0) is None
    # STATS_CLEAR zeroed the counters after writing them: the next dump counts from zero
    (dumps / "keepalived.json").unlink()
    os.kill(pid, json_sig)
    assert wait_file(dumps / "keepalived.json", 3.0)
    stats = json.loads((dumps / "keepalived.json").read_text())[0]["stats"]
    assert stats["become_master"] == 0

    stopped = bed.stop("a", signal.SIGTERM)
    zero = bed.priority_zero_at("a", stopped, VRID)
    assert zero is not None, "SIGTERM after the dump signals sent no priority-0 advert"
    assert bed.removed_at("a", VIP, stopped) is not None
    taken = bed.wait_sole("b", VIP, 3 * ADV + 2.0)
    added = bed.added_at("b", VIP, stopped) or taken
    skew = (256 - 50) / 256 * ADV
    assert added - zero <= skew + 0.3, f"backup took over {added - zero:.3f}s after priority 0"
