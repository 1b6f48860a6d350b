"""A VMAC's life in vipkeeper: never touching an interface it did not make, taking over its own
leftover, following reloads (a new instance gets its VMAC, a dropped one loses it, the others keep
theirs, a failed reload leaves none behind), and routes/VIPs leaving on FAULT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

ADV = 0.5


def ip(bed: Testbed, *args: str, check: bool = True) -> str:
    return subprocess.run(["ip", "-n", bed.nodes["a"].ns, *args], capture_output=True, text=True, timeout=10,
                          check=check).stdout


def index_of(bed: Testbed, name: str) -> int | None:
    out = ip(bed, "-o", "link", "show", name, check=False)
    return int(out.split(":")[0]) if out else None


def inst(name: str, vrid: int, extra=()) -> str:
    return vrrp_conf(name, vrid=vrid, priority=150, vips=[f"192.0.2.{vrid}/24"], advert_int=ADV,
                     extra=["use_vmac", *extra])


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a",), ipv6=False) as tb:
        yield tb


def run_once(bed: Testbed, conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", bed.nodes["a"].ns, sys.executable, "-m", "vipkeeper", "run", "-n",
                           "-l", "--no-syslog", "-f", str(conf), "-p", str(conf.with_suffix(".pid")),
                           "--control-socket", str(conf.with_suffix(".ctl"))],
                          capture_output=True, text=True, timeout=30, check=False)


def test_an_interface_of_the_vmac_s_name_that_is_not_ours_is_left_alone(bed: Testbed) -> None:
    # someone else's interface called vrrp.71: a macvlan with another MAC
    ip(bed, "link", "add", "link", "eth0", "name", "vrrp.71", "address", "02:00:00:00:00:71", "type", "macvlan")
    before = ip(bed, "-d", "link", "show", "vrrp.71")
    conf = bed.write_conf("a", inst("VI_1", 71))
    done = run_once(bed, conf)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output
    assert f"{conf}:1: (VI_1) vrrp.71 exists and is not a VMAC 00:00:5e:00:01:47 on eth0" in output
    assert ip(bed, "-d", "link", "show", "vrrp.71") == before  # untouched
    assert "192.0.2.71" not in ip(bed, "addr")


def test_a_leftover_vmac_is_taken_over_and_removed_at_exit(bed: Testbed) -> None:
    ip(bed, "link", "add", "link", "eth0", "name", "vrrp.71", "address", "00:00:5e:00:01:47", "type", "macvlan",
       "mode", "private")
    left = index_of(bed, "vrrp.71")
    bed.start("a", conf=inst("VI_1", 71))
    bed.wait_sole("a", "192.0.2.71/24", 3 * ADV + 5.0)
    assert index_of(bed, "vrrp.71") == left  # the same interface, not a new one
    assert "VMAC vrrp.71 on eth0 was left behind: taking it over" in bed.log_text("a")
    bed.stop("a")
    assert index_of(bed, "vrrp.71") is None


def test_reload_adds_and_drops_vmacs_and_a_failed_reload_leaves_none(bed: Testbed) -> None:
    bed.start("a", conf=inst("VI_1", 71))
    bed.wait_sole("a", "192.0.2.71/24", 3 * ADV + 5.0)
    first = index_of(bed, "vrrp.71")
    assert first is not None
    # reload with a second instance: its VMAC appears, the first VMAC is the same interface
    bed.write_conf("a", inst("VI_1", 71) + inst("VI_2", 72))
    bed.daemon("a").kill(signal.SIGHUP)
    bed.wait_sole("a", "192.0.2.72/24", 3 * ADV + 5.0)
    assert "192.0.2.72/24" in ip(bed, "addr", "show", "dev", "vrrp.72")
    assert index_of(bed, "vrrp.71") == first
    # a reload that cannot make VI_4's VMAC (its name is taken) fails whole: VI_3's new VMAC goes too
    ip(bed, "link", "add", "link", "eth0", "name", "vrrp.74", "address", "02:00:00:00:00:74", "type", "macvlan")
    bed.write_conf("a", inst("VI_1", 71) + inst("VI_2", 72) + inst("VI_3", 73) + inst("VI_4", 74))
    hup = bed.daemon("a").kill(signal.SIGHUP)
    failed = bed.daemon("a").log.wait_line(lambda line: "Reload failed" in line.text, 5.0, after=hup - 0.5)
    assert "(VI_4) vrrp.74 exists and is not a VMAC" in failed.text
    assert index_of(bed, "vrrp.73") is None and index_of(bed, "vrrp.74") is not None
    text = bed.log_text("a")  # VI_3's was made, then taken back with the failed reload
    assert text.index("Success creating VMAC interface vrrp.73") < text.index("Success removing VMAC interface vrrp.73")
    # reload dropping VI_2: its VMAC goes, VI_1's stays
    bed.write_conf("a", inst("VI_1", 71))
    hup = bed.daemon("a").kill(signal.SIGHUP)
    bed.daemon("a").log.wait_line(lambda line: "Reload finished" in line.text, 5.0, after=hup - 0.5)
    wait(lambda: index_of(bed, "vrrp.72") is None, 5.0, "vrrp.72 deleted")
    assert index_of(bed, "vrrp.71") == first
    assert bed.holders("192.0.2.71/24") == ["a"]
    bed.stop("a")
    assert index_of(bed, "vrrp.71") is None and index_of(bed, "vrrp.74") is not None  # not ours: stays


def test_fault_removes_vips_and_routes_but_keeps_the_vmac(bed: Testbed, tmp_path: Path) -> None:
    flag = tmp_path / "fault"
    flag.write_text("0\n")
    conf = (f"vrrp_track_file tf {{\n  file {flag}\n  weight 0\n}}\n"
            + inst("VI_1", 71, ["track_file {", "  tf", "}", "virtual_routes {",
                                "  198.51.100.0/24 via 192.0.2.254 dev eth0", "}",
                                "virtual_rules {", "  from 198.51.100.0/24 table 100 priority 100", "}"]))
    bed.start("a", conf=conf)
    bed.wait_sole("a", "192.0.2.71/24", 3 * ADV + 5.0)
    wait(lambda: "198.51.100.0/24" in ip(bed, "route") and "198.51.100.0/24" in ip(bed, "rule"), 5.0, "routes")
    flag.write_text("1\n")
    wait(lambda: "192.0.2.71" not in ip(bed, "addr"), 5.0, "the VIP to go on FAULT")
    wait(lambda: "198.51.100.0/24" not in ip(bed, "route") and "198.51.100.0/24" not in ip(bed, "rule"), 5.0,
         "the route and rule to go on FAULT")
    assert "Entering FAULT STATE" in bed.log_text("a")
    assert index_of(bed, "vrrp.71") is not None  # as keepalived: the VMAC stays up in every state
    flag.write_text("0\n")
    bed.wait_sole("a", "192.0.2.71/24", 3 * ADV + 5.0)
    wait(lambda: "198.51.100.0/24" in ip(bed, "route") and "198.51.100.0/24" in ip(bed, "rule"), 5.0,
         "the routes back with MASTER")


@pytest.mark.parametrize("kind", ["keepalived", "vipkeeper"])
def test_a_deleted_vmac_is_made_again_as_keepalived_does(bed: Testbed, kind: str) -> None:
    """Someone deletes the VMAC under a Master: FAULT, the VMAC is made again, BACKUP, MASTER
    again with the VIP on the new VMAC and adverts from it (keepalived 2.2.7 is the reference)."""
    bed.start("a", kind=kind, conf=inst("VI_1", 71))
    bed.wait_sole("a", "192.0.2.71/24", 3 * ADV + 5.0)
    old = index_of(bed, "vrrp.71")
    gone = time.time()
    ip(bed, "link", "del", "vrrp.71")
    wait(lambda: index_of(bed, "vrrp.71") not in (None, old) and "192.0.2.71/24" in ip(bed, "addr", "show", "vrrp.71"),
         3 * ADV + 8.0, "the VIP on a new vrrp.71")
    back = time.time()
    bed.wait_adverts("a", back, 2, 5.0, 71)
    assert {f.data[6:12].hex(":") for f, r in bed.adverts("a", back, None, 71)} == {"00:00:5e:00:01:47"}
    states = [s for _, _, s in bed.daemon("a").log.states("VI_1", after=gone)] if kind == "vipkeeper" else None
    text = bed.log_text("a")
    assert text.index("Entering FAULT STATE") < text.rindex("Entering BACKUP STATE") < text.rindex(
        "Entering MASTER STATE")
    if states is not None:
        assert states[:3] == ["FAULT", "BACKUP", "MASTER"], states
