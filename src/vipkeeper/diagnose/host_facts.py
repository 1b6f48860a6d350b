"""Gather the facts host_rules.py judges, from this machine (its network namespace, its /proc).

Each reader answers for the namespace the command runs in: interface flags by ioctl and
addresses by rtnetlink dump (the daemon's own readers), sysctls from /proc/sys/net (per network
namespace), the ruleset from `nft -j list ruleset`, /proc's mount options from mountinfo.
A fact that cannot be read is left unknown (None) and its rules stay silent.
"""

from __future__ import annotations

import fcntl
import glob
import ipaddress
import json
import socket
import struct
import subprocess

from vipkeeper.config.model import Config
from vipkeeper.diagnose.host_rules import (
    HostFacts,
    Interface,
    ServiceBind,
    haproxy_binds,
    nginx_binds,
    postfix_binds,
)

SIOCGIFFLAGS = 0x8913
IFF_UP = 0x1
IFF_MULTICAST = 0x1000

CAP_NAMES = {0: "CAP_CHOWN", 1: "CAP_DAC_OVERRIDE", 5: "CAP_KILL", 6: "CAP_SETGID", 7: "CAP_SETUID",
             12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW", 19: "CAP_SYS_PTRACE", 21: "CAP_SYS_ADMIN"}

DEFAULT_SERVICE_CONFIGS = {
    "haproxy": ["/etc/haproxy/haproxy.cfg"],
    "postfix": ["/etc/postfix/main.cf"],
    "nginx": ["/etc/nginx/nginx.conf", "/etc/nginx/conf.d/*.conf", "/etc/nginx/sites-enabled/*"],
}


def _read_int(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def interface(name: str) -> Interface:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            reply = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16s16x", name.encode()[:15]))
        except OSError:
            return Interface(name, exists=False)
    flags = struct.unpack_from("@H", reply, 16)[0]
    addrs = _addresses(name)
    base = f"/proc/sys/net/ipv4/conf/{name}/"
    return Interface(name, True, bool(flags & IFF_UP), bool(flags & IFF_MULTICAST), addrs,
                     _read_int(base + "rp_filter"), _read_int(base + "arp_ignore"), _read_int(base + "arp_announce"))


def _addresses(name: str) -> tuple:
    """The interface's addresses with prefix (from `ip -j addr`, in this network namespace)."""
    try:
        out = subprocess.run(["ip", "-j", "addr", "show", "dev", name], capture_output=True, text=True,
                             timeout=10, check=False)
        links = json.loads(out.stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return ()
    return tuple(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
                 for link in links for a in link.get("addr_info", []) if "local" in a)


def nft_ruleset() -> tuple[list | None, str | None, str]:
    try:
        j = subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True, timeout=10, check=False)
        t = subprocess.run(["nft", "-a", "list", "ruleset"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"cannot run nft: {exc}", ""
    if j.returncode != 0:
        return None, j.stderr.strip() or f"nft exited {j.returncode}", ""
    try:
        items = json.loads(j.stdout or '{"nftables": []}')["nftables"]
    except (ValueError, KeyError):
        return None, "nft printed no JSON", ""
    return [i for i in items if "metainfo" not in i], None, t.stdout


def proc_hidepid() -> str | None:
    """hidepid= of the /proc mount in effect (the last one stacked on /proc), None when absent."""
    found: str | None = None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, rfields = left.split(), right.split()
                if len(fields) > 4 and fields[4] == "/proc" and rfields[:1] == ["proc"]:
                    opts = rfields[2].split(",") if len(rfields) > 2 else []
                    found = next((o.split("=", 1)[1] for o in opts if o.startswith("hidepid=")), None)
    except OSError:
        return None
    return found


def capabilities(pid: int | str = "self") -> set[str] | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    mask = int(line.split()[1], 16)
                    return {name for bit, name in CAP_NAMES.items() if mask >> bit & 1}
    except (OSError, ValueError):
        return None
    return None


def connector_problem() -> str | None:
    from vipkeeper.track.proc_connector import ConnectorUnavailable, ProcessConnector

    try:
        conn = ProcessConnector.open()
    except ConnectorUnavailable as exc:
        return str(exc)
    except OSError as exc:
        return exc.strerror or str(exc)
    conn.close()
    return None


def services(paths: dict[str, list[str]]) -> list[ServiceBind]:
    parsers = {"haproxy": haproxy_binds, "postfix": postfix_binds, "nginx": nginx_binds}
    out: list[ServiceBind] = []
    for service, patterns in paths.items():
        for pattern in patterns:
            for path in sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]:
                try:
                    with open(path, errors="replace") as f:
                        out += parsers[service](path, f.read())
                except OSError:
                    continue
    return out


def gather(config: Config, service_paths: dict[str, list[str]] | None = None, pid: int | None = None) -> HostFacts:
    names = sorted({i.interface for i in config.instances}
                   | {v.dev for i in config.instances for v in i.virtual_ipaddress if v.dev})
    nft, err, listing = nft_ruleset()
    return HostFacts(
        interfaces={n: interface(n) for n in names},
        sysctl_all={k: _read_int(f"/proc/sys/net/ipv4/conf/all/{k}") for k in ("rp_filter", "arp_ignore",
                                                                                "arp_announce")},
        nonlocal_bind={4: _read_int("/proc/sys/net/ipv4/ip_nonlocal_bind"),
                       6: _read_int("/proc/sys/net/ipv6/ip_nonlocal_bind")},
        nft=nft, nft_error=err, nft_listing=listing,
        services=services(service_paths if service_paths is not None else DEFAULT_SERVICE_CONFIGS),
        connector=connector_problem() if config.track_processes else None,
        proc_hidepid=proc_hidepid(),
        capabilities=capabilities(pid or "self"),
    )
