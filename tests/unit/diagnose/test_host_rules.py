"""Host preflight rules on facts given by hand (host_facts.py gathers them on a real host)."""

from __future__ import annotations

import ipaddress

from vipkeeper.config import loads
from vipkeeper.diagnose.host_rules import (
    HostFacts,
    Interface,
    check_host,
    haproxy_binds,
    index_listing,
    nginx_binds,
    postfix_binds,
)

CONF = """\
global_defs {
  script_user nobody
}
vrrp_script chk {
  script "/usr/bin/pidof haproxy"
}
vrrp_track_process haproxy {
  process haproxy
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  track_script {
    chk
  }
  track_process {
    haproxy
  }
  virtual_ipaddress {
    192.0.2.50/24
  }
}
"""
ALL_CAPS = {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"}


def good_facts(**kw):
    base = {"interfaces": {"eth0": Interface("eth0", addresses=(ipaddress.ip_interface("192.0.2.1/24"),))},
                "sysctl_all": {"rp_filter": 0, "arp_ignore": 0, "arp_announce": 0}, "nonlocal_bind": {4: 1, 6: 1},
                "nft": [], "capabilities": set(ALL_CAPS)}
    base.update(kw)
    return HostFacts(**base)


def rules(findings, severity=None):
    return sorted(f.rule for f in findings if severity is None or f.severity == severity)


def config():
    return loads(CONF, name="keepalived.conf")


def test_correct_host_has_no_problem_only_the_tracking_mode_note():
    found = check_host(config(), good_facts())
    assert rules(found) == ["VK440"] and found[0].severity == "info"
    assert "process connector" in found[0].message


DROP_IN = [
    {"chain": {"family": "inet", "table": "fw", "name": "in", "handle": 1, "type": "filter", "hook": "input",
               "prio": 0, "policy": "accept"}},
    {"rule": {"family": "inet", "table": "fw", "chain": "in", "handle": 2, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": "vrrp"}},
        {"drop": None}]}},
]
LISTING = """table inet fw { # handle 1
\tchain in { # handle 1
\t\ttype filter hook input priority filter; policy accept;
\t\tip protocol vrrp drop # handle 2
\t}
}
"""


def test_nft_drop_named_with_its_listing_line():
    found = check_host(config(), good_facts(nft=DROP_IN, nft_listing=LISTING))
    (f,) = [f for f in found if f.rule == "VK401"]
    assert f.severity == "error" and f.where.line == 4 and "ip protocol vrrp drop" in f.evidence[0]
    assert "split brain" in f.message and "nft insert rule inet fw in" in f.fix
    assert "VK402" not in rules(found)  # output is not hooked


def test_interface_missing_down_no_multicast():
    assert "VK410" in rules(check_host(config(), good_facts(interfaces={"eth0": Interface("eth0", exists=False)})))
    found = check_host(config(), good_facts(interfaces={"eth0": Interface("eth0", up=False, multicast=False)}))
    assert {"VK411", "VK412"} <= set(rules(found))


def test_rp_filter_arp_ignore_arp_announce():
    itf = Interface("eth0", addresses=(ipaddress.ip_interface("198.51.100.1/24"),), rp_filter=1, arp_ignore=8)
    found = check_host(config(), good_facts(interfaces={"eth0": itf}))
    assert {"VK420", "VK421", "VK422"} <= set(rules(found))
    # rp_filter from conf/all counts too (the kernel takes the max); 2 (loose) is fine.
    found = check_host(config(), good_facts(sysctl_all={"rp_filter": 1}))
    assert "VK420" in rules(found) and next(f for f in found if f.rule == "VK420").where.file.endswith("all.rp_filter")
    assert "VK420" not in rules(check_host(config(), good_facts(sysctl_all={"rp_filter": 2})))


def test_services_binding_the_vip_without_nonlocal_bind():
    binds = haproxy_binds("/etc/haproxy/haproxy.cfg", "frontend f\n    bind 192.0.2.50:25,192.0.2.9:26\n"
                          "    bind :::80\n")
    binds += postfix_binds("/etc/postfix/main.cf", "myhostname = x\ninet_interfaces = 127.0.0.1,\n  192.0.2.50\n")
    binds += nginx_binds("/etc/nginx/nginx.conf", "server {\n  listen 80;\n  listen 192.0.2.50:443 ssl;\n}\n")
    found = check_host(config(), good_facts(services=binds, nonlocal_bind={4: 0, 6: 0}))
    places = sorted(str(f.where) for f in found if f.rule == "VK430")
    assert places == ["/etc/haproxy/haproxy.cfg:2", "/etc/nginx/nginx.conf:3", "/etc/postfix/main.cf:2"]
    assert not [f for f in check_host(config(), good_facts(services=binds)) if f.rule == "VK430"]


def test_hidepid_with_non_root_scripts_connector_and_capabilities():
    found = check_host(config(), good_facts(proc_hidepid="invisible", connector="running inside a PID namespace",
                                            capabilities={"CAP_NET_RAW"}))
    assert "VK441" in rules(found, "error")
    assert any(f.rule == "VK440" and "pidfd" in f.message for f in found)
    caps = {f.message.split()[3].rstrip(",") for f in found if f.rule == "VK450"}
    assert caps == ALL_CAPS - {"CAP_NET_RAW"}


def test_listing_index():
    idx = index_listing(LISTING)
    assert idx[("inet", "fw", "in", 2)] == (4, "ip protocol vrrp drop")
    assert idx[("inet", "fw", "in", None)][0] == 3
