"""`nftables` / `vrrp_iptables` with vrrp_strict (no accept mode) in namespaces.

- The tables, sets, chains and rules vipkeeper makes are keepalived 2.2.7's: the same file run by
  both daemons gives the same `nft -j list ruleset` (handles aside), IPv4, IPv6 and link-local.
- keepalived's semantics, kept: the Master's VIPs are in the drop set (a Master without accept
  mode does not accept traffic to its VIPs: RFC 5798), a Backup's set is empty; an instance with
  `accept` is not in it. The set follows a failover; the tables are gone after exit and a table
  of the host's own is untouched throughout.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology
from vipkeeper.net.netns import call_in

pytestmark = pytest.mark.net

LAYOUT_CONF = """global_defs {
  router_id fw
  vrrp_strict
  nftables
}
vrrp_instance VI_4 {
  state MASTER
  interface eth0
  virtual_router_id 65
  priority 150
  version 3
  advert_int 1
  virtual_ipaddress {
    192.0.2.65/24
    192.0.2.66/24
  }
}
vrrp_instance VI_6 {
  state MASTER
  interface eth0
  virtual_router_id 66
  priority 150
  version 3
  advert_int 1
  virtual_ipaddress {
    2001:db8::65/64
    fe80::65/64
  }
}
"""

PAIR_CONF = """global_defs {{
  router_id {name}
  vrrp_strict
  vrrp_iptables
}}
vrrp_instance VI_1 {{
  state {state}
  interface eth0
  virtual_router_id 67
  priority {priority}
  version 3
  advert_int 0.5
  virtual_ipaddress {{
    192.0.2.67/24
  }}
}}
vrrp_instance VI_2 {{
  state {state}
  interface eth0
  virtual_router_id 68
  priority {priority}
  version 3
  advert_int 0.5
  accept
  virtual_ipaddress {{
    192.0.2.68/24
  }}
}}
"""

HOST_TABLE = {"nftables": [
    {"add": {"table": {"family": "inet", "name": "hosttest"}}},
    {"add": {"chain": {"family": "inet", "table": "hosttest", "name": "c", "type": "filter", "hook": "input",
                       "prio": 0, "policy": "accept"}}},
    {"add": {"rule": {"family": "inet", "table": "hosttest", "chain": "c", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "192.0.2.67"}},
        {"counter": None}]}}}]}


def ruleset(topology: Topology, ns: str) -> list[dict]:
    out = topology.run(ns, ["nft", "-j", "list", "ruleset"]).stdout
    items = [i for i in json.loads(out)["nftables"] if "metainfo" not in i]
    for item in items:
        for body in item.values():
            body.pop("handle", None)
    return items


def vips_in(items: list[dict], family: str = "ip", table: str = "keepalived") -> list | None:
    """The elements of the table's `vips` set; None when there is no such set."""
    for item in items:
        s = item.get("set")
        if s and s["family"] == family and s["table"] == table and s["name"] == "vips":
            return s.get("elem", [])
    return None


def _tables(items: list[dict]) -> set[tuple[str, str]]:
    return {(i["table"]["family"], i["table"]["name"]) for i in items if "table" in i}


def _vip(topology: Topology, ns: str, vip: str) -> bool:
    return any(a.with_prefixlen == vip for a in topology.addresses(ns))


def test_layout_is_keepalived_s(topology: Topology, lan, tmp_path: Path) -> None:
    conf = tmp_path / "fw.conf"
    conf.write_text(LAYOUT_CONF)
    ns = lan["a"].ns
    found = {}
    for kind in ("keepalived", "vipkeeper"):
        daemon = HostDaemon(kind, ns, conf, tmp_path, kind)
        daemon.start()
        try:
            wait_for(lambda: len(vips_in(ruleset(topology, ns), "ip") or ()) == 2
                     and len(vips_in(ruleset(topology, ns), "ip6") or ()) == 1, 20, what=f"{kind} drop sets filled")
            found[kind] = ruleset(topology, ns)
        finally:
            daemon.stop(timeout=10)
        wait_for(lambda: not _tables(ruleset(topology, ns)), 10, what=f"{kind} tables gone after exit")

    def canonical(items: list[dict]) -> list[str]:
        return sorted(json.dumps(i, sort_keys=True) for i in items)

    assert _tables(found["vipkeeper"]) == {("ip", "keepalived"), ("ip6", "keepalived")}
    assert canonical(found["vipkeeper"]) == canonical(found["keepalived"])


def test_master_drops_vip_traffic_backup_does_not_hold_it_follows_failover(topology: Topology, lan,
                                                                          tmp_path: Path) -> None:
    a_ns, b_ns, client = lan["a"].ns, lan["b"].ns, lan["client"].ns
    topology.run(a_ns, ["nft", "-j", "-f", "-"], input=json.dumps(HOST_TABLE))
    host_before = [i for i in ruleset(topology, a_ns) if i.get("table", i.get("chain", i.get("rule", {})))
                   .get("table", i.get("table", {}).get("name")) == "hosttest"]
    (tmp_path / "a.conf").write_text(PAIR_CONF.format(name="a", state="MASTER", priority=150))
    (tmp_path / "b.conf").write_text(PAIR_CONF.format(name="b", state="BACKUP", priority=100))
    a = HostDaemon("vipkeeper", a_ns, tmp_path / "a.conf", tmp_path, "a")
    b = HostDaemon("vipkeeper", b_ns, tmp_path / "b.conf", tmp_path, "b")
    a.start()
    b.start()

    def ping(address: str) -> bool:
        """Whether `address` answers the client at all: a TCP SYN to a closed port gets a reset
        from a host that accepts the traffic and nothing from one that drops it."""
        def probe() -> bool:
            with socket.socket() as sock:
                sock.settimeout(1.0)
                try:
                    sock.connect((address, 9))
                except ConnectionRefusedError:
                    return True
                except OSError:  # timed out: dropped
                    return False
                return True

        return call_in(client, probe)

    try:
        wait_for(lambda: _vip(topology, a_ns, "192.0.2.67/24") and _vip(topology, a_ns, "192.0.2.68/24")
                 and vips_in(ruleset(topology, a_ns)) == ["192.0.2.67"] and _tables(ruleset(topology, b_ns)), 20,
                 what="a master of both, only VI_1's VIP blocked, b's table made")
        assert vips_in(ruleset(topology, b_ns)) == [], "a Backup's drop set is empty"
        assert not ping("192.0.2.67"), "the Master drops traffic to its VIP (no accept mode)"
        assert ping("192.0.2.68"), "the instance with accept answers"
        assert ping("192.0.2.1"), "the node's own address is not affected"
        assert ("inet", "hosttest") in _tables(ruleset(topology, a_ns))

        a.signal(signal.SIGTERM)
        wait_for(lambda: _vip(topology, b_ns, "192.0.2.67/24") and vips_in(ruleset(topology, b_ns)) == ["192.0.2.67"],
                 10, what="b master, its drop set follows")
        assert a.wait(10)
        after = ruleset(topology, a_ns)
        assert _tables(after) == {("inet", "hosttest")}, "vipkeeper's tables gone, the host's own untouched"
        host_after = [i for i in after if i.get("table", i.get("chain", i.get("rule", {})))
                      .get("table", i.get("table", {}).get("name")) == "hosttest"]
        assert host_after == host_before and host_before
        assert not ping("192.0.2.67")
    finally:
        a.stop(timeout=10)
        b.stop(timeout=10)
    assert not _tables(ruleset(topology, b_ns))


def test_reload_follows_accept_and_the_keyword(topology: Topology, lan, tmp_path: Path) -> None:
    """A reload that gives VI_1 accept mode takes its VIP out of the drop set; one that drops
    `vrrp_iptables` deletes the tables; one that brings `nftables` back makes them and puts the
    running Master's VIP back in. The VIPs never move meanwhile."""
    ns = lan["a"].ns
    conf = tmp_path / "a.conf"
    base = PAIR_CONF.format(name="a", state="MASTER", priority=150)
    conf.write_text(base)
    a = HostDaemon("vipkeeper", ns, conf, tmp_path, "a")
    a.start()
    try:
        wait_for(lambda: vips_in(ruleset(topology, ns)) == ["192.0.2.67"] and _vip(topology, ns, "192.0.2.68/24"),
                 20, what="VI_1 blocked")
        conf.write_text(base.replace("  advert_int 0.5\n  virtual_ipaddress {\n    192.0.2.67/24",
                                     "  advert_int 0.5\n  accept\n  virtual_ipaddress {\n    192.0.2.67/24"))
        a.signal(signal.SIGHUP)
        wait_for(lambda: vips_in(ruleset(topology, ns)) == [], 10, what="accept mode: nothing blocked")
        conf.write_text(base.replace("  vrrp_iptables\n", ""))
        a.signal(signal.SIGHUP)
        wait_for(lambda: not _tables(ruleset(topology, ns)), 10, what="tables gone with the keyword")
        conf.write_text(base.replace("  vrrp_iptables\n", "  nftables\n"))
        a.signal(signal.SIGHUP)
        wait_for(lambda: vips_in(ruleset(topology, ns)) == ["192.0.2.67"], 10, what="table back, VIP blocked again")
        assert _vip(topology, ns, "192.0.2.67/24") and _vip(topology, ns, "192.0.2.68/24")
        assert "Traceback" not in "\n".join(a.log_lines())
    finally:
        a.stop(timeout=10)
    assert not _tables(ruleset(topology, ns))


def test_leftover_table_of_a_killed_daemon_is_replaced(topology: Topology, lan, tmp_path: Path) -> None:
    """SIGKILL leaves the table (nothing can clean up); the next start replaces it, as keepalived's
    check_and_delete_tables does, and the new table holds only what the new daemon blocks."""
    ns = lan["a"].ns
    conf = tmp_path / "a.conf"
    conf.write_text(PAIR_CONF.format(name="a", state="MASTER", priority=150))
    first = HostDaemon("vipkeeper", ns, conf, tmp_path, "first")
    first.start()
    try:
        wait_for(lambda: vips_in(ruleset(topology, ns)) == ["192.0.2.67"], 20, what="VI_1 blocked")
        first.signal(signal.SIGKILL)
        assert first.wait(10)
    finally:
        first.stop()
    assert vips_in(ruleset(topology, ns)) == ["192.0.2.67"], "a killed daemon leaves its table"
    conf.write_text(PAIR_CONF.format(name="a", state="BACKUP", priority=100))
    second = HostDaemon("vipkeeper", ns, conf, tmp_path, "second")
    second.start()
    try:
        wait_for(lambda: any("Deleting old ip keepalived table" in line for line in second.log_lines()), 20,
                 what="leftover table replaced")
        wait_for(lambda: vips_in(ruleset(topology, ns)) == ["192.0.2.67"], 20, what="blocked again once Master")
        # one ip table, not doubled; no ip6 table: keepalived makes it only for IPv6 VIPs (measured)
        assert _tables(ruleset(topology, ns)) == {("ip", "keepalived")}
        assert sum(1 for i in ruleset(topology, ns) if "table" in i) == 1
    finally:
        second.stop(timeout=10)
    assert not _tables(ruleset(topology, ns))
