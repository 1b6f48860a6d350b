"""Figure 12: 4,000 instances on four interfaces, multicast and unicast, at advert_int 1.

One daemon alone in namespace `a` (every instance Master), four veth links to a capture
namespace `p` as in figure 5. Per link, 1,000 VRRPv3 instances:
- 60 IPv4 multicast (VRIDs 1-60) and 60 IPv4 unicast (VRIDs 61-120, from the link's address to a
  peer address that `p` holds): the documentation ranges hold only ~490 IPv4 VIPs;
- 255 IPv6 multicast (VRIDs 1-255);
- 625 IPv6 unicast from three source addresses (255 + 255 + 115 VRIDs): a unicast instance is
  told apart by VRID, interface and source, so the VRIDs repeat once per source.
The peers' neighbour entries are permanent in `a`, so no resolution stands between an advert
and the wire. The run lasts --minutes: the daemon's CPU over the whole run, its RSS at the end,
every `Entering ... STATE` line after all were Master (spurious transitions: there is no peer,
nothing may move), and the advert gap minus the interval captured in `p` during four 10 s
windows spread over the run (p99, max).
"""

from __future__ import annotations

import os
import sys
import time

from bench.daemons import IMPLS, Config, Instance
from bench.report import Table, quantile
from bench.scale import jitters, lag_over, loop_of, start_all_master
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import FrameCapture, is_vrrp_or_arp

LINKS, PER_LINK, INTERVAL, WINDOW = 4, 1000, 1.0, 10.0
V4_MCAST, V4_UCAST, V6_MCAST = 60, 60, 255
V6_UCAST = (255, 255, 115)  # per source address
V4_POOL = [f"198.51.100.{i}" for i in range(1, 250)] + [f"192.0.2.{i}" for i in range(1, 250)]


def plan() -> list[Instance]:
    """The 4,000 instances, the same for both daemons."""
    assert V4_MCAST + V4_UCAST + V6_MCAST + sum(V6_UCAST) == PER_LINK
    out: list[Instance] = []
    v4 = iter(V4_POOL)
    for link in range(LINKS):
        dev = f"vk{link}"

        def add(vrid: int, vip: str, src: str | None = None, peer: str | None = None) -> None:
            out.append(Instance(f"VI_{len(out)}", dev, vrid, 200, INTERVAL, 3, [vip], unicast_src=src,
                                unicast_peers=[peer] if peer else []))

        for vrid in range(1, V4_MCAST + 1):
            add(vrid, f"{next(v4)}/32")
        for vrid in range(V4_MCAST + 1, V4_MCAST + V4_UCAST + 1):
            add(vrid, f"{next(v4)}/32", f"192.0.2.{250 + link}", f"198.51.100.{250 + link}")
        for vrid in range(1, V6_MCAST + 1):
            add(vrid, f"2001:db8:40{link}::{vrid:x}/128")
        for s, count in enumerate(V6_UCAST):
            for vrid in range(1, count + 1):
                add(vrid, f"2001:db8:41{link}:{s}::{vrid:x}/128", f"2001:db8:4{link}::{s + 1}", f"2001:db8:4{link}::ff")
    return out


def build(topo: Topology) -> tuple[str, str]:
    a = topo.add_namespace("a")
    p = topo.add_namespace("p")
    for i in range(LINKS):
        topo.run(a, ["ip", "link", "add", "name", f"vk{i}", "type", "veth", "peer", "name", f"vp{i}"])
        topo.run(a, ["ip", "link", "set", f"vp{i}", "netns", p])
        for ns, dev in ((a, f"vk{i}"), (p, f"vp{i}")):
            topo.run(ns, ["sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0"])
            topo.run(ns, ["ip", "link", "set", dev, "up"])
        topo.run(a, ["ip", "addr", "add", f"192.0.2.{250 + i}/32", "dev", f"vk{i}"])
        topo.run(a, ["ip", "route", "add", f"198.51.100.{250 + i}/32", "dev", f"vk{i}"])
        for s in range(len(V6_UCAST)):
            topo.run(a, ["ip", "addr", "add", f"2001:db8:4{i}::{s + 1}/64", "dev", f"vk{i}", "nodad"])
        topo.run(p, ["ip", "addr", "add", f"198.51.100.{250 + i}/32", "dev", f"vp{i}"])
        topo.run(p, ["ip", "addr", "add", f"2001:db8:4{i}::ff/64", "dev", f"vp{i}", "nodad"])
        mac = topo.run(p, ["cat", f"/sys/class/net/vp{i}/address"]).stdout.strip()
        topo.run(a, ["ip", "neigh", "replace", f"198.51.100.{250 + i}", "lladdr", mac, "dev", f"vk{i}", "nud", "permanent"])
        topo.run(a, ["ip", "neigh", "replace", f"2001:db8:4{i}::ff", "lladdr", mac, "dev", f"vk{i}", "nud", "permanent"])
    return a, p


def one(impl: str, minutes: float, workdir: str) -> dict:
    instances = plan()
    n = len(instances)
    topo = Topology()
    daemon = None
    try:
        a, p = build(topo)
        work = os.path.join(workdir, f"scale4k-{impl}")
        os.makedirs(work, exist_ok=True)
        daemon = IMPLS[impl](a, Config(instances, router_id="scale4k"), work, "a")
        masters, all_master_s = start_all_master(daemon, n, 60 + n * 0.05, poll=1.0)
        if not daemon.running or masters < n:
            return {"error": f"{masters} of {n} Master after {all_master_s:.0f} s; " + " | ".join(daemon.log_lines()[-3:])}
        loop0 = loop_of(daemon)
        time.sleep(2 * INTERVAL + 0.5)
        lines0 = len(daemon.log_lines())
        cpu0, w0 = daemon.cpu(), time.monotonic()
        run_s = minutes * 60
        jit: list[float] = []
        seen: list[int] = []
        dropped = 0
        for w in range(4):  # four capture windows spread over the run
            start_at = w0 + (w + 0.5) * run_s / 4 - WINDOW / 2
            time.sleep(max(0.0, start_at - time.monotonic()))
            with FrameCapture(p, None, keep=is_vrrp_or_arp, rcvbuf=32 << 20) as capture:
                time.sleep(WINDOW)  # the capture window itself, not a wait for an event
            captured: dict[str, list[float]] = {}
            for frame, adv in capture.adverts():
                addresses = adv.advertisement.addresses
                captured.setdefault(str(addresses[0]) if addresses else "?", []).append(frame.time)
            dropped += capture.dropped
            got, count = jitters(captured, INTERVAL)
            jit += got
            seen.append(count)
        time.sleep(max(0.0, w0 + run_s - time.monotonic()))
        cpu1, w1 = daemon.cpu(), time.monotonic()
        rss = daemon.rss()
        loop1 = loop_of(daemon)
        moved = [line for line in daemon.log_lines()[lines0:] if "Entering" in line and "STATE" in line]
        return {"cpu_pct": (cpu1 - cpu0) / (w1 - w0) * 100, "rss_mib": rss / 1024, "jitter_ms": jit, "seen": seen,
                "moved": moved, "dropped": dropped, "all_master_s": all_master_s, "lag": lag_over(loop0, loop1), "running": daemon.running}
    finally:
        if daemon is not None:
            daemon.stop(timeout=30)
        topo.close()


def figure12(runs: int, workdir: str, minutes: float) -> Table:
    table = Table("fig12-scale4k", f"{LINKS * PER_LINK} instances on {LINKS} interfaces (multicast and unicast, "
                  f"IPv4 and IPv6), advert_int 1, {minutes:g} min per run", "see row", p99=True)
    got: dict[str, list[dict]] = {"vipkeeper": [], "keepalived": []}
    for i in range(runs):
        for impl in ("vipkeeper", "keepalived"):
            print(f"fig12: {impl} run {i + 1}/{runs}, {minutes:g} min", file=sys.stderr, flush=True)
            r = one(impl, minutes, workdir)
            if "error" in r:
                table.notes.append(f"{impl} run {i + 1}: {r['error']}")
                continue
            got[impl].append(r)
            table.notes.append(f"{impl} run {i + 1}: all Master {r['all_master_s']:.1f} s after start; instances seen "
                               f"per window {r['seen']}; frames the capture dropped {r['dropped']}; transitions after that {len(r['moved'])}"
                               + (f" (first: {r['moved'][0]})" if r["moved"] else ""))
            if r.get("lag"):
                lag = r["lag"]
                table.notes.append(f"{impl} run {i + 1}: timer lag, {lag['wakeups']} wake-ups: p99 <= {lag['p99_le_ms']} ms, "
                                   f"max since start {lag['max_ms']:.1f} ms, {lag['late']} late (> advert_int/10)")
    for impl, rs in got.items():
        if not rs:
            table.add("CPU %", impl, [None])
            continue
        table.add("CPU %", impl, [r["cpu_pct"] for r in rs])
        table.add("RSS MiB", impl, [r["rss_mib"] for r in rs])
        table.add("advert gap - interval p99, ms", impl, [quantile(r["jitter_ms"], 0.99) for r in rs if r["jitter_ms"]])
        table.add("advert gap - interval max, ms", impl, [max(r["jitter_ms"]) for r in rs if r["jitter_ms"]])
        table.add("spurious transitions", impl, [float(len(r["moved"])) for r in rs])
    table.notes.append(f"CPU % of one core over the whole run; jitter from four {WINDOW:g} s captures spread over it")
    return table
