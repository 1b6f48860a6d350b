"""What a passive observer of one LAN concludes about its VRRP routers: the core of `vipkeeper watch`.

Rules
- A VRRP router sends adverts only while it is Master (a Backup is silent), so every source
  advertising a VRID with a priority above 0 *is* a Master. Two sources whose unbroken advert
  streams for one VRID overlap for longer than `overlap` seconds are two Masters: a preemption
  overlaps by one advert at most, a split brain for as long as it lasts.
- A stream is unbroken while the gap between two adverts stays under 3 intervals plus a margin
  (the Backups' master-down interval); a source silent that long is no longer advertising.
- Routers of one VRID that share no advertised address are two clusters on one VRID (a foreign
  cluster); routers that share some but not all addresses have mismatched VIP sets. Different
  intervals, versions or authentication types between routers of one VRID are mismatches too
  (keepalived drops such adverts, so each side believes it is alone).
- A VIP is claimed by a MAC when that MAC answers for it: an ARP reply or gratuitous ARP with the
  VIP as sender address, an ARP request sent from the VIP, a neighbour advertisement for it.
  Two MACs answering one of our probes for a VIP, or claims that alternate A, B, A within
  `claim_window`, are a conflict. A single handover (A's claims, then only B's) is not.
- Adverts with a TTL/hop limit other than 255 or a bad checksum are findings on their source.
- Pure: observations in (with the time they were seen), findings out; `now` is always passed in.

How it works
`LanWatch` keeps, per (VRID, family, source address), the last advert's facts and the start of
its current unbroken stream; per VIP, the recent claims (time, MAC) and, per probe round, the MACs
that answered. `findings(now)` evaluates the rules above over what is recent at `now`;
`report(now)` adds the per-VRID tables `vipkeeper watch` prints.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from vipkeeper.vrrp import packet

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SEVERITY = {
    "two_masters": "error",
    "vip_conflict": "error",
    "foreign_cluster": "error",
    "vip_set_mismatch": "error",
    "interval_mismatch": "warning",
    "version_mismatch": "error",
    "auth_mismatch": "error",
    "bad_ttl": "warning",
    "bad_checksum": "warning",
}


@dataclass(frozen=True)
class WatchFinding:
    kind: str
    vrid: int | None
    message: str
    subjects: tuple[str, ...] = ()

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "vrid": self.vrid, "message": self.message,
                "subjects": list(self.subjects)}

    def as_text(self) -> str:
        where = f"VRID {self.vrid}" if self.vrid is not None else "LAN"
        return f"{self.severity}: {self.kind} ({where}): {self.message}"


@dataclass
class Advertiser:
    """One source advertising one VRID, as last seen."""

    vrid: int
    family: int
    source: IPAddress
    mac: str
    priority: int
    interval: float
    addresses: tuple[IPAddress, ...]
    version: int
    auth_type: int
    ttl: int
    first: float  # start of the current unbroken stream
    last: float
    adverts: int = 0

    def gap_limit(self, margin: float) -> float:
        return 3 * self.interval + margin

    def as_dict(self) -> dict[str, Any]:
        return {"vrid": self.vrid, "family": self.family, "source": str(self.source), "mac": self.mac,
                "priority": self.priority, "interval": self.interval,
                "vips": [str(a) for a in self.addresses], "version": self.version,
                "auth": {0: "none", 1: "PASS", 2: "AH"}.get(self.auth_type, str(self.auth_type)),
                "ttl": self.ttl, "adverts": self.adverts, "first_seen": self.first, "last_seen": self.last}


@dataclass
class _VipClaims:
    claims: deque[tuple[float, str]] = field(default_factory=deque)
    rounds: dict[int, set[str]] = field(default_factory=dict)
    macs: dict[str, float] = field(default_factory=dict)  # mac -> last claim


class LanWatch:
    """Observations in, findings out (module docstring)."""

    def __init__(self, overlap: float = 2.0, margin: float = 0.5, claim_window: float = 10.0) -> None:
        self.overlap = overlap
        self.margin = margin
        self.claim_window = claim_window
        self.advertisers: dict[tuple[int, int, IPAddress], Advertiser] = {}
        self.vips: dict[IPAddress, _VipClaims] = defaultdict(_VipClaims)
        self.bad: dict[tuple[str, str], tuple[float, int | None, str]] = {}  # (kind, source) -> (t, vrid, detail)
        self.round = 0
        self.frames = 0

    # -- observations in -------------------------------------------------------------------

    def advert(self, now: float, mac: str, got: packet.Received) -> None:
        """A decoded advert (decoded without the TTL check: the TTL is judged here)."""
        self.frames += 1
        adv = got.advertisement
        family = got.source.version
        if got.ttl != packet.VRRP_TTL:
            self.bad[("bad_ttl", str(got.source))] = (now, adv.vrid, f"TTL/hop limit {got.ttl}, not 255")
        key = (adv.vrid, family, got.source)
        a = self.advertisers.get(key)
        interval = adv.interval
        if a is None or now - a.last > a.gap_limit(self.margin) or a.priority == 0:
            first = now
        else:
            first = a.first
        if adv.priority == 0:
            first = now
        self.advertisers[key] = Advertiser(adv.vrid, family, got.source, mac, adv.priority, interval,
                                           tuple(adv.addresses), adv.version, adv.auth_type, got.ttl, first, now,
                                           (a.adverts if a else 0) + 1)

    def malformed(self, now: float, source: str, vrid: int | None, reason: str, detail: str = "") -> None:
        """A VRRP frame the codec refused (only bad TTL and bad checksum are findings)."""
        self.frames += 1
        if reason in ("bad_checksum", "bad_ttl"):
            self.bad[(reason, source)] = (now, vrid, detail or reason)

    def probe_round(self, now: float) -> int:
        """The shell sends one probe per VIP; answers until the next round belong to this one."""
        self.round += 1
        for claims in self.vips.values():
            for r in [r for r in claims.rounds if r < self.round - 2]:
                del claims.rounds[r]
        return self.round

    def claim(self, now: float, vip: IPAddress, mac: str, probe_answer: bool = False) -> None:
        """`mac` answered for `vip` (ARP reply/GARP/request from the VIP, NA for it)."""
        self.frames += 1
        c = self.vips[vip]
        c.claims.append((now, mac))
        c.macs[mac] = now
        if probe_answer and self.round:
            c.rounds.setdefault(self.round, set()).add(mac)
        while c.claims and c.claims[0][0] < now - self.claim_window:
            c.claims.popleft()

    def known_vips(self) -> set[IPAddress]:
        """Every address some advertiser carries: what the shell probes."""
        return {addr for a in self.advertisers.values() for addr in a.addresses}

    # -- conclusions -------------------------------------------------------------------------

    def active(self, now: float) -> list[Advertiser]:
        return [a for a in self.advertisers.values()
                if a.priority > 0 and now - a.last <= a.gap_limit(self.margin)]

    def findings(self, now: float) -> list[WatchFinding]:
        out: list[WatchFinding] = []
        by_vrid: dict[tuple[int, int], list[Advertiser]] = defaultdict(list)
        for a in self.advertisers.values():
            if now - a.last <= max(a.gap_limit(self.margin), self.claim_window):
                by_vrid[(a.vrid, a.family)].append(a)
        for (vrid, _family), routers in sorted(by_vrid.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            out.extend(self._vrid_findings(now, vrid, sorted(routers, key=lambda a: a.source)))
        for vip, claims in sorted(self.vips.items(), key=lambda kv: (kv[0].version, kv[0])):
            macs = self._conflicting(now, claims)
            if len(macs) > 1:
                owners = [self._identity(vip, m) for m in macs]
                out.append(WatchFinding("vip_conflict", self._vrid_of(vip),
                                        f"VIP {vip} answered by {len(macs)} MACs: {', '.join(owners)}",
                                        (str(vip), *macs)))
        for (kind, source), (t, vrid, detail) in sorted(self.bad.items()):
            if now - t <= self.claim_window:
                out.append(WatchFinding(kind, vrid, f"adverts from {source}: {detail}", (source,)))
        return out

    def _vrid_findings(self, now: float, vrid: int, routers: list[Advertiser]) -> list[WatchFinding]:
        out: list[WatchFinding] = []
        live = [a for a in routers if a.priority > 0 and now - a.last <= a.gap_limit(self.margin)]
        if len(live) > 1:
            # Only routers of the same cluster (sharing a VIP) are split brain; two clusters on one
            # VRID are each right to be Master of their own addresses.
            for group in _clusters(live):
                group = [a for a in group
                         if any(min(a.last, b.last) - max(a.first, b.first) >= self.overlap
                                for b in group if b is not a)]
                if len(group) > 1:
                    out.append(WatchFinding(
                        "two_masters", vrid,
                        f"{len(group)} Masters advertise VRID {vrid} at once for over {self.overlap:g} s: "
                        + ", ".join(f"{a.source} ({a.mac}, priority {a.priority})" for a in group),
                        tuple(str(a.source) for a in group)))
        for i, a in enumerate(routers):
            for b in routers[i + 1:]:
                pair = (str(a.source), str(b.source))
                sa, sb = set(a.addresses), set(b.addresses)
                if not sa & sb:
                    out.append(WatchFinding(
                        "foreign_cluster", vrid,
                        f"{a.source} ({_fmt(a.addresses)}) and {b.source} ({_fmt(b.addresses)}) use VRID {vrid} "
                        "for disjoint VIP sets: two clusters share one VRID (and one virtual MAC)", pair))
                    continue
                if sa != sb:
                    out.append(WatchFinding(
                        "vip_set_mismatch", vrid,
                        f"{a.source} advertises {_fmt(a.addresses)}, {b.source} advertises {_fmt(b.addresses)}",
                        pair))
                if a.interval != b.interval:
                    out.append(WatchFinding("interval_mismatch", vrid,
                                            f"{a.source} advertises every {a.interval:g} s, {b.source} every "
                                            f"{b.interval:g} s", pair))
                if a.version != b.version:
                    out.append(WatchFinding("version_mismatch", vrid,
                                            f"{a.source} speaks VRRPv{a.version}, {b.source} VRRPv{b.version}", pair))
                elif a.auth_type != b.auth_type:
                    out.append(WatchFinding("auth_mismatch", vrid,
                                            f"{a.source} authentication type {a.auth_type}, {b.source} "
                                            f"{b.auth_type}", pair))
        return out

    def _conflicting(self, now: float, claims: _VipClaims) -> list[str]:
        for r in sorted(claims.rounds, reverse=True):
            if r >= self.round - 1 and len(claims.rounds[r]) > 1:
                return sorted(claims.rounds[r])
        recent = [(t, m) for t, m in claims.claims if t >= now - self.claim_window]
        seen: list[str] = []
        for _t, mac in recent:
            if seen and seen[-1] == mac:
                continue
            if mac in seen:  # A ... B ... A: both keep answering
                return sorted(set(seen))
            seen.append(mac)
        return []

    def _identity(self, vip: IPAddress, mac: str) -> str:
        for a in self.advertisers.values():
            if a.mac == mac and vip in a.addresses:
                return f"{mac} (VRRP source {a.source}, VRID {a.vrid})"
        return mac

    def _vrid_of(self, vip: IPAddress) -> int | None:
        vrids = {a.vrid for a in self.advertisers.values() if vip in a.addresses}
        return vrids.pop() if len(vrids) == 1 else None

    def report(self, now: float) -> dict[str, Any]:
        vrids: dict[int, dict[str, Any]] = {}
        for a in sorted(self.advertisers.values(), key=lambda a: (a.vrid, a.family, a.source)):
            entry = vrids.setdefault(a.vrid, {"vrid": a.vrid, "advertisers": [], "vips": {}})
            row = a.as_dict()
            row["advertising"] = a.priority > 0 and now - a.last <= a.gap_limit(self.margin)
            entry["advertisers"].append(row)
            for addr in a.addresses:
                claims = self.vips.get(addr)
                entry["vips"][str(addr)] = sorted(claims.macs) if claims else []
        findings = self.findings(now)
        return {"vrids": list(vrids.values()), "findings": [f.as_dict() for f in findings],
                "frames": self.frames}


def _clusters(routers: list[Advertiser]) -> list[list[Advertiser]]:
    """Routers grouped by shared advertised addresses (connected components)."""
    groups: list[list[Advertiser]] = []
    for a in routers:
        joined = [g for g in groups if any(set(a.addresses) & set(b.addresses) for b in g)]
        merged = [a] + [b for g in joined for b in g]
        groups = [g for g in groups if g not in joined] + [merged]
    return groups


def _fmt(addresses: tuple[IPAddress, ...]) -> str:
    return ",".join(str(a) for a in addresses) or "-"


def exit_status(findings: list[WatchFinding]) -> int:
    """0 nothing found, 1 warnings only, 2 any error."""
    if any(f.severity == "error" for f in findings):
        return 2
    return 1 if findings else 0
