"""Host preflight rules: does this machine let the configured VRRP instances work?

Rules (each finding says what breaks, the fix, and the rule, sysctl or file:line it came from)
- VK401/VK402: the nftables ruleset drops VRRP in/out for an instance (evaluated by nft_eval:
  multicast to 224.0.0.18/ff02::12 or the configured group from any address of the interface's
  subnets, or unicast to/from the configured peers). VK403: it cannot be decided (a rule this
  evaluator does not model stands before a verdict): the finding names that rule.
- VK410/VK411/VK412: an instance's interface is missing, down, or (multicast mode) has no
  MULTICAST flag.
- VK420: strict reverse-path filtering (rp_filter 1, the max of `all` and the interface) drops
  adverts and VIP traffic whose source routes via another interface (unicast peers reached
  elsewhere, VMAC interfaces). VK421: arp_ignore 2/3 answers ARP only for addresses of the
  sender's subnet / host-scope (a /32 VIP goes unanswered), 8 never answers: clients cannot reach
  the VIP. VK422: arp_announce 0 with a VIP of another subnet than the interface's primary makes
  the Master's own ARP requests carry the VIP as sender, which refreshes neighbours' caches on
  the wrong router after a failover back.
- VK430: a service configured to bind a VIP (haproxy `bind`, postfix `inet_interfaces`, nginx
  `listen`) on a host without net.ipv4/ipv6.ip_nonlocal_bind: on the Backup it cannot start.
- VK440: tracking mode (process connector or pidfd+rescan) when processes are tracked; VK441:
  /proc mounted with hidepid while scripts run as a non-root user (they cannot see the services
  they check: `pidof` fails, the instance loses priority, the peer takes over).
- VK450: a capability the daemon needs is missing (NET_ADMIN: VIPs; NET_RAW: VRRP and ARP
  sockets; SETUID/SETGID: scripts as their user; KILL: script timeouts).
- Pure: facts in (`HostFacts`, the parsed config), findings out.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from vipkeeper.config.model import Config, Instance, Where
from vipkeeper.diagnose.findings import Finding
from vipkeeper.diagnose.nft_eval import Outcome, Packet, evaluate

NFT_LISTING = "nft -a list ruleset"


@dataclass(frozen=True)
class Interface:
    name: str
    exists: bool = True
    up: bool = True
    multicast: bool = True
    addresses: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...] = ()
    rp_filter: int = 0  # the interface's own value
    arp_ignore: int = 0
    arp_announce: int = 0


@dataclass(frozen=True)
class ServiceBind:
    service: str
    file: str
    line: int
    address: str  # as written ("0.0.0.0", "192.0.2.50", "all", "[2001:db8::50]")


@dataclass
class HostFacts:
    interfaces: dict[str, Interface] = field(default_factory=dict)
    sysctl_all: dict[str, int] = field(default_factory=dict)  # rp_filter, arp_ignore, arp_announce of conf/all
    nonlocal_bind: dict[int, int] = field(default_factory=lambda: {4: 0, 6: 0})
    nft: list[dict[str, Any]] | None = None  # `nft -j list ruleset`'s array, None: not available
    nft_error: str | None = None
    nft_listing: str = ""  # `nft -a list ruleset` text, for line numbers
    services: list[ServiceBind] = field(default_factory=list)
    connector: str | None = None  # None: available; else why not
    proc_hidepid: str | None = None  # the hidepid= value of /proc's mount, None when absent
    capabilities: set[str] | None = None  # effective capability names; None: unknown


REQUIRED_CAPS = {
    "CAP_NET_ADMIN": "adding and removing VIPs and joining the VRRP multicast group",
    "CAP_NET_RAW": "the VRRP raw sockets and the gratuitous ARP / NA packet sockets",
    "CAP_SETUID": "running notify and track scripts as their configured user",
    "CAP_SETGID": "running notify and track scripts as their configured group",
    "CAP_KILL": "killing track scripts at their timeout",
}


def check_host(config: Config, facts: HostFacts) -> list[Finding]:
    out: list[Finding] = []
    out += _interfaces(config, facts)
    out += _firewall(config, facts)
    out += _arp_sysctls(config, facts)
    out += _nonlocal_bind(config, facts)
    out += _tracking(config, facts)
    out += _capabilities(facts)
    return out


# -- interfaces ------------------------------------------------------------------------------

def _interfaces(config: Config, facts: HostFacts) -> list[Finding]:
    out = []
    seen: set[str] = set()
    for inst in config.instances:
        devs = [inst.interface] + [v.dev for v in inst.virtual_ipaddress if v.dev and v.dev != inst.interface]
        for dev in devs:
            if (dev, inst.is_unicast) in seen:
                continue
            seen.add((dev, inst.is_unicast))
            itf = facts.interfaces.get(dev)
            if itf is None or not itf.exists:
                out.append(Finding("VK410", "error", inst.where,
                                   f"({inst.name}) interface {dev} does not exist on this host",
                                   f"create {dev} or correct `interface`/`dev` in the configuration; "
                                   "the instance goes to FAULT and never holds its VIPs"))
                continue
            if not itf.up:
                out.append(Finding("VK411", "error", inst.where,
                                   f"({inst.name}) interface {dev} is down",
                                   f"`ip link set {dev} up`; while it is down the instance is in FAULT"))
            if not itf.multicast and not inst.is_unicast and dev == inst.interface:
                out.append(Finding("VK412", "error", inst.where,
                                   f"({inst.name}) interface {dev} has no MULTICAST flag: multicast adverts "
                                   "are neither sent nor received, every node becomes Master",
                                   f"`ip link set {dev} multicast on`, or configure unicast_peer"))
    return out


# -- firewall --------------------------------------------------------------------------------

def packets_for(inst: Instance, itf: Interface | None, group4: ipaddress.IPv4Address,
                group6: ipaddress.IPv6Address) -> list[tuple[str, Packet]]:
    """The VRRP packets the instance must be able to receive and send: (description, packet)."""
    fam = inst.family
    nets = [a.network for a in (itf.addresses if itf else ()) if a.version == fam
            and not (fam == 6 and not a.ip.is_link_local and not inst.is_unicast)]
    own = [ipaddress.ip_network(a.ip) for a in (itf.addresses if itf else ()) if a.version == fam]
    if inst.source_address is not None:
        own = [ipaddress.ip_network(inst.source_address)]
    if not nets:
        nets = [ipaddress.ip_network("0.0.0.0/0" if fam == 4 else "::/0")]
    if not own:
        own = nets[:1]
    out: list[tuple[str, Packet]] = []
    if inst.is_unicast:
        for peer in inst.unicast_peers:
            p = ipaddress.ip_network(peer)
            out.append((f"VRRP from peer {peer}", Packet(fam, "input", p, own[0], inst.interface)))
            out.append((f"VRRP to peer {peer}", Packet(fam, "output", own[0], p, inst.interface)))
    else:
        group = inst.mcast_dst_ip or (group6 if fam == 6 else group4)
        g = ipaddress.ip_network(group)
        out.append((f"VRRP to {group} from the LAN", Packet(fam, "input", nets[0], g, inst.interface)))
        out.append((f"VRRP to {group} from this node", Packet(fam, "output", own[0], g, inst.interface)))
    return out


def _firewall(config: Config, facts: HostFacts) -> list[Finding]:
    if facts.nft is None:
        return []
    g = config.global_defs
    out = []
    lines = index_listing(facts.nft_listing)
    for inst in config.instances:
        for what, pkt in packets_for(inst, facts.interfaces.get(inst.interface), g.vrrp_mcast_group4,
                                     g.vrrp_mcast_group6):
            res = evaluate(facts.nft, pkt)
            if res.verdict == "accept":
                continue
            where, evidence = _rule_place(res, lines)
            direction = "in" if pkt.hook == "input" else "out"
            if res.verdict == "drop":
                rule = "VK401" if direction == "in" else "VK402"
                breaks = ("this node never hears the Master and becomes Master too: split brain"
                          if direction == "in" else "the other nodes never hear this node and become Master too: "
                          "split brain")
                out.append(Finding(rule, "error", where,
                                   f"({inst.name}) nftables drops {what} on {inst.interface} ({res.where}, "
                                   f"{res.reason}): {breaks}",
                                   f"accept IP protocol 112 ({'ip protocol' if inst.family == 4 else 'meta l4proto'}"
                                   f" vrrp) on the {pkt.hook} hook before this rule, e.g. `nft insert rule "
                                   f"{res.where.family} {res.where.table} {res.where.chain} "
                                   f"{'iifname' if direction == 'in' else 'oifname'} {inst.interface} "
                                   f"{'ip protocol' if inst.family == 4 else 'meta l4proto'} vrrp accept`",
                                   related=(inst.where,), evidence=evidence))
            else:
                out.append(Finding("VK403", "warning", where,
                                   f"({inst.name}) cannot decide whether nftables lets {what} on {inst.interface} "
                                   f"through: {res.reason} ({res.where})",
                                   "check this rule by hand, or accept VRRP explicitly before it",
                                   related=(inst.where,), evidence=evidence))
    return out


def index_listing(text: str) -> dict[tuple[str, str, str, int | None], tuple[int, str]]:
    """(family, table, chain, handle or None for the chain's policy line) -> (line, text)."""
    out: dict[tuple[str, str, str, int | None], tuple[int, str]] = {}
    family = table = chain = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = re.match(r"table (\S+) (\S+) \{", line)
        if m:
            family, table, chain = m.group(1), m.group(2), ""
            continue
        m = re.match(r"chain (\S+) \{", line)
        if m:
            chain = m.group(1)
            continue
        if chain and line.startswith("type ") and "policy" in line:
            out[(family, table, chain, None)] = (n, line)
            continue
        m = re.search(r"# handle (\d+)$", line)
        if m and chain:
            out[(family, table, chain, int(m.group(1)))] = (n, line[: m.start()].strip())
    return out


def _rule_place(res: Outcome, lines: dict) -> tuple[Where, tuple[str, ...]]:
    if res.where is None:
        return Where(NFT_LISTING, 0), ()
    key = (res.where.family, res.where.table, res.where.chain, res.where.handle)
    found = lines.get(key)
    if found is None:
        return Where(NFT_LISTING, 0), (str(res.where),)
    return Where(NFT_LISTING, found[0]), (f"{res.where}: {found[1]}",)


# -- ARP and reverse path ----------------------------------------------------------------------

def _arp_sysctls(config: Config, facts: HostFacts) -> list[Finding]:
    out = []
    done: set[str] = set()
    for inst in config.instances:
        itf = facts.interfaces.get(inst.interface)
        if itf is None or not itf.exists or inst.interface in done:
            continue
        done.add(inst.interface)
        sysctl = f"net.ipv4.conf.{inst.interface}"
        rp = max(facts.sysctl_all.get("rp_filter", 0), itf.rp_filter)
        if rp == 1:
            src = "all" if facts.sysctl_all.get("rp_filter", 0) == 1 else inst.interface
            out.append(Finding("VK420", "warning", Where(f"net.ipv4.conf.{src}.rp_filter", 1),
                               f"({inst.name}) strict reverse-path filter on {inst.interface} (rp_filter=1): "
                               "adverts, ARP and VIP traffic from a source routed via another interface are "
                               "dropped silently (unicast peers reached elsewhere, VMAC interfaces, asymmetric "
                               "routes to the VIP)",
                               f"sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.{inst.interface}.rp_filter=2"
                               " (loose) or 0", related=(inst.where,)))
        ign = max(facts.sysctl_all.get("arp_ignore", 0), itf.arp_ignore)
        if ign in (2, 3, 8):
            why = {2: "answers ARP only when the sender is in the VIP's own subnet",
                   3: "does not answer ARP for addresses with host scope",
                   8: "answers no ARP at all"}[ign]
            out.append(Finding("VK421", "error" if ign == 8 else "warning", Where(f"{sysctl}.arp_ignore", 1),
                               f"({inst.name}) arp_ignore={ign} on {inst.interface} {why}: clients may never "
                               "learn the Master's MAC for the VIP",
                               f"sysctl -w {sysctl}.arp_ignore=0 (or 1) and net.ipv4.conf.all.arp_ignore=0",
                               related=(inst.where,)))
        ann = max(facts.sysctl_all.get("arp_announce", 0), itf.arp_announce)
        primary = [a for a in itf.addresses if a.version == 4]
        if ann == 0 and primary:
            foreign = [v for v in inst.virtual_ipaddress if v.address.version == 4
                       and not any(v.address.ip in p.network for p in primary)]
            if foreign:
                out.append(Finding("VK422", "info", Where(f"{sysctl}.arp_announce", 1),
                                   f"({inst.name}) arp_announce=0 on {inst.interface} and VIP "
                                   f"{foreign[0].address} outside its subnets: this node's own ARP requests may "
                                   "carry the VIP as sender address",
                                   f"sysctl -w {sysctl}.arp_announce=2", related=(inst.where,)))
    return out


# -- services binding a VIP ---------------------------------------------------------------------

def _nonlocal_bind(config: Config, facts: HostFacts) -> list[Finding]:
    vips = {v.address.ip for inst in config.instances
            for v in inst.virtual_ipaddress + inst.virtual_ipaddress_excluded}
    out = []
    for bind in facts.services:
        try:
            addr = ipaddress.ip_address(bind.address.strip("[]"))
        except ValueError:
            continue
        if addr not in vips or facts.nonlocal_bind.get(addr.version, 0):
            continue
        key = "net.ipv4.ip_nonlocal_bind" if addr.version == 4 else "net.ipv6.ip_nonlocal_bind"
        out.append(Finding("VK430", "error", Where(bind.file, bind.line),
                           f"{bind.service} binds VIP {addr} but {key}=0: on the Backup, which does not hold the "
                           f"VIP, {bind.service} cannot start or reload (bind: Cannot assign requested address)",
                           f"sysctl -w {key}=1 (and persist it in /etc/sysctl.d/), or bind the wildcard address"))
    return out


# -- tracking and privileges --------------------------------------------------------------------

def _tracking(config: Config, facts: HostFacts) -> list[Finding]:
    out = []
    anchor = config.instances[0].where if config.instances else Where(config.files[0] if config.files else "-", 0)
    if config.track_processes:
        tp = config.track_processes[0]
        if facts.connector is None:
            out.append(Finding("VK440", "info", tp.where,
                               "process tracking will use the kernel process connector (events as they happen)",
                               "nothing to do"))
        else:
            out.append(Finding("VK440", "info", tp.where,
                               f"process connector unavailable ({facts.connector}): process tracking will use "
                               "pidfd + /proc rescans (exits seen at once, new processes at the next rescan)",
                               "run in the initial PID/user namespace with CAP_NET_ADMIN to get events"))
    user = config.global_defs.script_user
    if facts.proc_hidepid not in (None, "0", "off") and config.scripts and user not in (None, "root"):
        s = config.scripts[0]
        out.append(Finding("VK441", "error", s.where,
                           f"/proc is mounted with hidepid={facts.proc_hidepid} and scripts run as {user}: they "
                           "cannot see other users' processes, so a check such as `pidof haproxy` fails, the "
                           "instance loses priority and the peer takes the VIP",
                           "mount /proc with gid=GROUP of the script user (or hidepid=0), or run the check as "
                           "root, or use vrrp_track_process (the daemon sees every process)",
                           related=(anchor,)))
    return out


def _capabilities(facts: HostFacts) -> list[Finding]:
    if facts.capabilities is None:
        return []
    out = []
    for cap, what in REQUIRED_CAPS.items():
        if cap not in facts.capabilities:
            out.append(Finding("VK450", "error" if cap in ("CAP_NET_ADMIN", "CAP_NET_RAW") else "warning",
                               Where("/proc/self/status", 0), f"the daemon lacks {cap}, needed for {what}",
                               f"run it as root or grant {cap} (systemd: AmbientCapabilities={cap})"))
    return out


# -- parsing service configurations (pure: text in) ----------------------------------------------

def haproxy_binds(path: str, text: str) -> list[ServiceBind]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "bind":
            for spec in words[1].split(","):
                host = spec.rsplit(":", 1)[0] if ":" in spec else spec
                if host.startswith(("ipv4@", "ipv6@")):
                    host = host[5:]
                out.append(ServiceBind("haproxy", path, n, host.strip("[]")))
    return out


def postfix_binds(path: str, text: str) -> list[ServiceBind]:
    out = []
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        m = re.match(r"\s*inet_interfaces\s*=\s*(.*)", line)
        if not m:
            continue
        value = m.group(1)
        k = n
        while k < len(lines) and lines[k][:1] in (" ", "\t") and lines[k].strip():  # continuation lines
            value += " " + lines[k].strip()
            k += 1
        for item in re.split(r"[,\s]+", value.strip()):
            if item:
                out.append(ServiceBind("postfix", path, n, item.strip("[]")))
    return out


def nginx_binds(path: str, text: str) -> list[ServiceBind]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*listen\s+([^;\s]+)", line.split("#", 1)[0])
        if not m:
            continue
        spec = m.group(1)
        if spec.startswith("["):
            host = spec[1:].split("]", 1)[0]
        elif ":" in spec:
            host = spec.rsplit(":", 1)[0]
        elif spec.isdigit() or spec.startswith("unix:"):
            continue
        else:
            host = spec
        out.append(ServiceBind("nginx", path, n, host))
    return out
