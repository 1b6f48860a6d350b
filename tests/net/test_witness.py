"""The quorum witness on a real three-member etcd cluster (Debian's etcd-server), in namespaces.

Nodes a (192.0.2.1) and b (.2) run `vipkeeper run`, e1..e3 (.3-.5) one etcd member each, and the
client (.200) sees them all, on one bridge. Every fact comes from the kernel: address events in
each node's namespace (every instant, `dual_holding`) plus a 10 ms sampler of who holds the VIP.

- two routers cut from each other (both still reach the client and all of etcd): without the
  witness both take the VIP; with it exactly one holds it, at every sample;
- the Master cut from the etcd majority drops its VIP within the bound of witness/claim.py
  (last renewal sent + TTL*(1-1e-3) - margin), the Backup takes over, never two holders;
- one etcd member killed: nothing moves; the majority killed: fail_closed drops the VIP,
  fail_open keeps it and says degraded (log and `status --json`);
- a daemon started without a witness maps no OpenSSL (vipkeeper/asyncio_tls.py); a reload that
  adds a witness on https endpoints claims the key over TLS all the same.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from vipkeeper.lab.etcd import EtcdCluster, blackhole
from vipkeeper.lab.testbed import Testbed, vrrp_conf
from vipkeeper.witness.claim import RATE_BOUND

from .bed_helpers import status

pytestmark = [pytest.mark.net,
              pytest.mark.skipif(not EtcdCluster.available(), reason="etcd-server is not installed")]

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "status.schema.json").read_text())
VIP = "192.0.2.50/24"
VIP_OPEN = "192.0.2.51/24"
ADV = 0.1
TTL = 2
MARGIN = 0.2
BOUND = TTL * (1 - RATE_BOUND) - MARGIN  # after the last renewal was sent


@pytest.fixture
def bed(topology, request):
    failed = request.session.testsfailed
    with Testbed(topology, ("a", "b", "e1", "e2", "e3"), ipv6=False) as tb:
        yield tb
        if request.session.testsfailed > failed:
            for name in ("a", "b"):  # the daemons' own account, for whoever reads the failure
                print(f"--- {name} ---\n" + tb.log_text(name)[-6000:])


@pytest.fixture
def etcd(bed: Testbed, tmp_path: Path):
    cluster = EtcdCluster(bed.topo, [bed.lan["e1"], bed.lan["e2"], bed.lan["e3"]], tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def witness_block(cluster: EtcdCluster, name: str = "etcd", policy: str = "fail_closed") -> str:
    return "\n".join([f"vipkeeper_witness {name} {{", f"  endpoints {' '.join(cluster.endpoints)}",
                      *([f"  cacert {cluster.tls[0]}"] if cluster.tls else []),
                      f"  lease_ttl {TTL}", f"  lease_margin {MARGIN}", f"  policy {policy}",
                      "  timeout 0.3", "}", ""])


@pytest.fixture
def etcd_tls(bed: Testbed, tmp_path: Path):
    """The cluster with https client URLs, on a certificate made for the members' addresses."""
    members = [bed.lan["e1"], bed.lan["e2"], bed.lan["e3"]]
    cert, key = tmp_path / "etcd.pem", tmp_path / "etcd.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=vipkeeper-lab-etcd",
                    "-addext", "subjectAltName=" + ",".join(f"IP:{m.ipv4.ip}" for m in members)],
                   check=True, capture_output=True)
    cluster = EtcdCluster(bed.topo, members, tmp_path, tls=(str(cert), str(key)))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def maps_openssl(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return any("libssl" in line or "/_ssl." in line for line in f)


def node_conf(name: str, priority: int, cluster: EtcdCluster | None, *, vrid: int = 51, vip: str = VIP,
              instance: str = "VI_1", witness: str | None = "etcd", extra: tuple[str, ...] = ()) -> str:
    lines = [f"witness {witness}"] if cluster is not None and witness else []
    return vrrp_conf(instance, vrid=vrid, priority=priority, vips=[vip], advert_int=ADV, extra=[*lines, *extra])


def start_pair(bed: Testbed, cluster: EtcdCluster | None, policy: str = "fail_closed",
               extra: tuple[str, ...] = (), only: tuple[str, ...] = ("a", "b")) -> None:
    for name, prio in (("a", 200), ("b", 100)):
        if name not in only:
            continue
        text = f"global_defs {{\n  router_id {name}\n}}\n"
        if cluster is not None:
            text += witness_block(cluster, policy=policy)
        bed.start(name, conf=text + node_conf(name, prio, cluster, extra=extra))


class Sampler:
    """Who holds `vip`, every 10 ms, on a thread, until stopped."""

    def __init__(self, bed: Testbed, vip: str) -> None:
        self.bed, self.vip = bed, vip
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), tuple(self.bed.holders(self.vip))))
            self._stop.wait(0.01)

    def stop(self) -> list[tuple[float, tuple[str, ...]]]:
        self._stop.set()
        self._thread.join(2)
        return self.samples


def wait_until(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.01)
    return time.time()


ROUTE = "198.51.100.0/24"


def routes(bed: Testbed, name: str) -> list[str]:
    """The virtual route as `ip route` shows it in node `name` (empty: not installed)."""
    out = subprocess.run(["ip", "-n", bed.nodes[name].ns, "route", "show", ROUTE], capture_output=True,
                         text=True, timeout=10, check=True)
    return out.stdout.splitlines()


def test_router_partition_two_holders_without_witness_one_with(bed: Testbed, etcd: EtcdCluster) -> None:
    a, b = bed.lan["a"], bed.lan["b"]
    # Without the witness: VRRP alone, both become Master once they cannot hear each other.
    start_pair(bed, None)
    bed.wait_sole("a", VIP, 3.0)
    bed.topo.partition(a, b)
    try:
        wait_until(lambda: bed.holders(VIP) == ["a", "b"], 3.0, "both routers hold the VIP without a witness")
    finally:
        bed.topo.heal(a, b)
    bed.wait_sole("a", VIP, 3.0)
    bed.stop("a")
    bed.stop("b")

    # With the witness: the same partition, and exactly one holder at every sample; the route
    # that moves with the Master is gated as the VIP is (b, a VRRP Master refused the key,
    # installs it no more than it adds the VIP).
    start_pair(bed, etcd, extra=("virtual_routes {", f"  {ROUTE} via 192.0.2.254 dev eth0", "}"))
    bed.wait_sole("a", VIP, 5.0)
    assert etcd.get(bed.lan["e1"], "/vipkeeper/instance/VI_1") == "a"
    t0 = time.time()
    sampler = Sampler(bed, VIP)
    bed.topo.partition(a, b)
    try:
        # b's master-down timer expires (VRRP Master), it finds the key held and waits
        bed.daemon("b").log.wait_line(lambda line: "is held by a - waiting" in line.text, 3.0, after=t0)
        time.sleep(TTL + 0.5)  # more than a lease: a keeps renewing, b never gets the key
        assert routes(bed, "b") == [], "b installed the virtual route with the witness gate shut"
        assert routes(bed, "a") != [], "a, the key holder, lost its virtual route"
    finally:
        samples = sampler.stop()
        bed.topo.heal(a, b)
    t1 = time.time()
    assert len(samples) >= 150
    wrong = [(t, h) for t, h in samples if h != ("a",)]
    assert wrong == [], f"samples where not exactly a held the VIP: {wrong[:5]}"
    assert bed.dual_holding(VIP, t0, t1) == []
    bed.wait_sole("a", VIP, 1.0)
    assert bed.dual_holding(VIP, t0) == []


def test_master_cut_from_etcd_majority_drops_vip_within_bound(bed: Testbed, etcd: EtcdCluster) -> None:
    a = bed.lan["a"]
    members = [bed.lan[n] for n in ("e1", "e2", "e3")]
    start_pair(bed, etcd)
    bed.wait_sole("a", VIP, 5.0)
    time.sleep(0.5)  # a few renewals
    t0 = time.time()
    blackhole(bed.topo, a, members)
    try:
        removed = None
        deadline = time.monotonic() + BOUND + 1.0
        while removed is None and time.monotonic() < deadline:
            removed = bed.removed_at("a", VIP, t0)
            time.sleep(0.005)
        assert removed is not None, "a kept its VIP although it lost the etcd majority"
        # The last renewal a sent was before t0, so its deadline is before t0 + BOUND.
        print(f"\nwitness: VIP dropped {removed - t0:.3f} s after the cut (bound {BOUND:.3f} s)")
        assert removed - t0 <= BOUND + 0.05
        taken = bed.wait_sole("b", VIP, TTL + 3.0)
        added = bed.added_at("b", VIP, t0)
        assert added is not None and added > removed
        print(f"witness: b took over {added - t0:.3f} s after the cut ({added - removed:.3f} s after a let go)")
        assert bed.dual_holding(VIP, t0) == []
        assert etcd.get(bed.lan["e1"], "/vipkeeper/instance/VI_1") == "b"
    finally:
        blackhole(bed.topo, a, members, on=False)
    # a reaches etcd again: out of FAULT, preempts (priority 200), b yields and lets the key go.
    bed.wait_sole("a", VIP, TTL + 4.0)
    assert bed.dual_holding(VIP, t0) == []
    assert taken > t0


def test_etcd_member_loss_moves_nothing_majority_loss_follows_policy(bed: Testbed, etcd: EtcdCluster) -> None:
    e2, e3 = bed.lan["e2"], bed.lan["e3"]
    for name, prio in (("a", 200), ("b", 100)):
        text = (f"global_defs {{\n  router_id {name}\n}}\n" + witness_block(etcd, "closed", "fail_closed")
                + witness_block(etcd, "open", "fail_open")
                + node_conf(name, prio, etcd, witness="closed")
                + node_conf(name, prio, etcd, vrid=52, vip=VIP_OPEN, instance="VI_2", witness="open"))
        bed.start(name, conf=text)
    bed.wait_sole("a", VIP, 5.0)
    bed.wait_sole("a", VIP_OPEN, 5.0)

    t0 = time.time()
    etcd.kill(e3)
    time.sleep(TTL + 1.0)  # longer than a lease: renewals go on through e1/e2
    t1 = time.time()
    for vip in (VIP, VIP_OPEN):
        assert bed.holders(vip) == ["a"]
        assert bed.removed_at("a", vip, t0) is None, f"{vip} moved after one etcd member died"
        assert bed.added_at("b", vip, t0) is None
    assert bed.dual_holding(VIP, t0, t1) == [] and bed.dual_holding(VIP_OPEN, t0, t1) == []

    t2 = time.time()
    etcd.kill(e2)  # e1 alone: no quorum, no lease renews anywhere
    gone = wait_until(lambda: bed.holders(VIP) == [], BOUND + 1.5, "fail_closed VIP gone from every node")
    print(f"\nwitness: fail_closed VIP gone {gone - t2:.3f} s after the etcd majority died")
    bed.daemon("a").log.wait_line(lambda line: "DEGRADED" in line.text, 2.0, after=t2)
    time.sleep(1.0)
    t3 = time.time()
    assert bed.holders(VIP) == []
    assert bed.holders(VIP_OPEN) == ["a"]
    assert bed.removed_at("a", VIP_OPEN, t2) is None, "fail_open dropped its VIP"
    assert bed.dual_holding(VIP, t2, t3) == [] and bed.dual_holding(VIP_OPEN, t2, t3) == []
    snap = status(bed, "a")
    jsonschema.Draft202012Validator(SCHEMA).validate(snap)
    by_name = {w["name"]: w for w in snap["witnesses"]}
    assert by_name["VI_2"]["degraded"] is True and by_name["VI_2"]["policy"] == "fail_open"
    assert by_name["VI_1"]["reachable"] is False and by_name["VI_1"]["holding"] is False
    states = {i["name"]: i["state"] for i in snap["instances"]}
    assert states == {"VI_1": "FAULT", "VI_2": "MASTER"}
    bed.stop("a", signal.SIGTERM)
    bed.stop("b", signal.SIGTERM)


def test_sync_group_claims_one_key_and_moves_as_one(bed: Testbed, etcd: EtcdCluster) -> None:
    a = bed.lan["a"]
    members = [bed.lan[n] for n in ("e1", "e2", "e3")]
    for name, prio in (("a", 200), ("b", 100)):
        text = (f"global_defs {{\n  router_id {name}\n}}\n" + witness_block(etcd)
                + node_conf(name, prio, etcd, witness=None)
                + node_conf(name, prio, etcd, vrid=52, vip=VIP_OPEN, instance="VI_2", witness=None)
                + "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n  witness etcd\n}\n")
        bed.start(name, conf=text)
    bed.wait_sole("a", VIP, 5.0)
    bed.wait_sole("a", VIP_OPEN, 2.0)
    assert etcd.get(bed.lan["e1"], "/vipkeeper/sync_group/G") == "a"
    assert etcd.get(bed.lan["e1"], "/vipkeeper/instance/VI_1") is None
    t0 = time.time()
    blackhole(bed.topo, a, members)
    try:
        bed.wait_sole("b", VIP, TTL + 3.0)
        bed.wait_sole("b", VIP_OPEN, 1.0)
        for vip in (VIP, VIP_OPEN):
            removed, added = bed.removed_at("a", vip, t0), bed.added_at("b", vip, t0)
            assert removed is not None and added is not None and removed - t0 <= BOUND + 0.05 and added > removed
            assert bed.dual_holding(vip, t0) == []
        assert etcd.get(bed.lan["e1"], "/vipkeeper/sync_group/G") == "b"
    finally:
        blackhole(bed.topo, a, members, on=False)


def handovers(bed: Testbed, rounds: int, witness: bool) -> list[float]:
    """SIGTERM the Master a `rounds` times (restarting it in between): how long after a removed
    the VIP b had it (negative: an overlap). a preempts when it comes back."""
    gaps = []
    for _ in range(rounds):
        bed.wait_sole("a", VIP, 6.0)
        time.sleep(0.3)
        t0 = bed.stop("a", signal.SIGTERM)
        bed.wait_sole("b", VIP, 3.0)
        removed, added = bed.removed_at("a", VIP, t0), bed.added_at("b", VIP, t0)
        assert removed is not None and added is not None
        if witness:  # the key is deleted only after the VIP went: never an overlap
            assert added >= removed and bed.dual_holding(VIP, t0) == []
        gaps.append(added - removed)
        bed.start("a", conf=bed.conf_path("a"))
    return gaps


def test_sigterm_fast_handover_extra_cost_of_the_witness(bed: Testbed, etcd: EtcdCluster) -> None:
    """A Master that stops deletes its key after its VIPs went, so the Backup, taking over at once
    on the priority-0 advert (fast_handover), acquires as soon as the watch says so."""
    start_pair(bed, None, extra=("fast_handover",))
    plain = handovers(bed, 3, witness=False)
    bed.stop("a")
    bed.stop("b")
    start_pair(bed, etcd, extra=("fast_handover",))
    witnessed = handovers(bed, 3, witness=True)
    ms = lambda xs: " ".join(f"{x * 1000:.1f}" for x in xs)
    print(f"\nfast handover, VIP gap (ms): plain {ms(plain)}; witness {ms(witnessed)}")
    # plain fast handover: the Backup may add the VIP a few hundred µs before the old Master's
    # removal (priority 0 goes out first), as tests/net/test_daemon_failover.py allows
    assert max(abs(x) for x in plain) < 0.05
    # the witness adds the key's delete and one transaction, a few ms on a LAN; bound loosely
    assert max(witnessed) < 0.25


def test_reload_adds_and_removes_the_witness(bed: Testbed, etcd: EtcdCluster) -> None:
    """SIGHUP without the witness block: the VIP stays and the key is released; with it again:
    the key is claimed again (the VIP is down at most until it is held)."""
    start_pair(bed, etcd, only=("a",))
    bed.wait_sole("a", VIP, 5.0)
    e1 = bed.lan["e1"]
    assert etcd.get(e1, "/vipkeeper/instance/VI_1") == "a"
    with_witness = bed.conf_path("a").read_text()
    bed.write_conf("a", "global_defs {\n  router_id a\n}\n" + node_conf("a", 200, None))
    t0 = time.time()
    bed.daemon("a").kill(signal.SIGHUP)
    wait_until(lambda: etcd.get(e1, "/vipkeeper/instance/VI_1") is None, 3.0, "key released on reload")
    assert bed.removed_at("a", VIP, t0) is None and bed.holders(VIP) == ["a"]
    bed.write_conf("a", with_witness)
    bed.daemon("a").kill(signal.SIGHUP)
    wait_until(lambda: etcd.get(e1, "/vipkeeper/instance/VI_1") == "a", 3.0, "key claimed again on reload")
    bed.wait_sole("a", VIP, 2.0)
    assert status(bed, "a")["witnesses"][0]["holding"] is True


def test_reload_adds_a_tls_witness_to_a_daemon_started_without_openssl(bed: Testbed, etcd_tls: EtcdCluster) -> None:
    """Started without a witness, the daemon's asyncio has no TLS and libssl is not mapped; SIGHUP
    with a witness on https endpoints (cacert): the key is claimed over TLS and the VIP held."""
    plain = "global_defs {\n  router_id a\n}\n"
    bed.start("a", conf=plain + node_conf("a", 200, None))
    bed.wait_sole("a", VIP, 5.0)
    pid = bed.daemon("a").pid
    assert not maps_openssl(pid)
    assert all(url.startswith("https://") for url in etcd_tls.endpoints)
    bed.write_conf("a", plain + witness_block(etcd_tls) + node_conf("a", 200, etcd_tls))
    t0 = time.time()
    bed.daemon("a").kill(signal.SIGHUP)
    e1 = bed.lan["e1"]
    wait_until(lambda: etcd_tls.get(e1, "/vipkeeper/instance/VI_1") == "a", 5.0, "key claimed over TLS on reload")
    assert maps_openssl(pid)
    bed.wait_sole("a", VIP, 2.0)  # down at most until the key is held (as in the test above)
    witness = status(bed, "a")["witnesses"][0]
    assert witness["holding"] is True and witness["io_failures"] == 0, witness
    assert time.time() - t0 < 5.0
