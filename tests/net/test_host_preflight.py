"""`vipkeeper doctor --host` inside lab namespaces, each built with one broken setting: a real
nftables drop rule on IP protocol 112, rp_filter=1 on the interface, a haproxy config binding the
VIP without ip_nonlocal_bind, /proc mounted with hidepid in a mount namespace. Each is named;
on the correctly set node nothing is."""

from __future__ import annotations

import json
import sys

import pytest

pytestmark = pytest.mark.net

CONF = """\
global_defs {
  script_user nobody
}
vrrp_script chk {
  script "/bin/true"
  interval 1
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
  virtual_ipaddress {
    192.0.2.50/24
  }
}
"""
HAPROXY = ("frontend smtp\n    mode tcp\n    bind 192.0.2.50:25\n    default_backend b\n"
           "backend b\n    server s 127.0.0.1:2525\n")


@pytest.fixture
def files(tmp_path):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF)
    haproxy = tmp_path / "haproxy.cfg"
    haproxy.write_text(HAPROXY)
    return conf, haproxy


def sysctl(topology, ns, **values):
    for key, value in values.items():
        topology.run(ns, ["sysctl", "-q", "-w", f"{key.replace('__', '.')}={value}"])


def correct(topology, ns):
    sysctl(topology, ns, **{"net.ipv4.ip_nonlocal_bind": 1, "net.ipv6.ip_nonlocal_bind": 1,
                            "net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.eth0.rp_filter": 0})


def preflight(topology, ns, files, wrap=()):
    conf, haproxy = files
    argv = [sys.executable, "-m", "vipkeeper", "doctor", "--host", "-f", str(conf), "--format", "json",
            "--haproxy-config", str(haproxy), "--postfix-config", "/nonexistent", "--nginx-config", "/nonexistent"]
    out = topology.run(ns, [*wrap, *argv], check=False, timeout=30)
    assert out.stdout.strip(), out.stderr
    report = json.loads(out.stdout)
    return out.returncode, report, {f["rule"] for f in report["findings"] if f["severity"] != "info"}


def test_correct_node_nothing(topology, lan, files):
    ns = lan["a"].ns
    correct(topology, ns)
    status, report, found = preflight(topology, ns, files)
    assert found == set() and status == 0, report


def test_nft_drop_rule_named(topology, lan, files):
    ns = lan["a"].ns
    correct(topology, ns)
    topology.run(ns, ["nft", "add", "table", "inet", "vktest"])
    topology.run(ns, ["nft", "add chain inet vktest in { type filter hook input priority 0; policy accept; }"])
    topology.run(ns, ["nft", "add rule inet vktest in ip protocol 112 drop"])
    status, report, found = preflight(topology, ns, files)
    assert found == {"VK401"} and status == 2, report
    (f,) = [f for f in report["findings"] if f["rule"] == "VK401"]
    assert f["file"] == "nft -a list ruleset" and f["line"] > 0 and "ip protocol vrrp drop" in f["evidence"][0]


def test_rp_filter_named(topology, lan, files):
    ns = lan["a"].ns
    correct(topology, ns)
    sysctl(topology, ns, **{"net.ipv4.conf.eth0.rp_filter": 1})
    status, report, found = preflight(topology, ns, files)
    assert found == {"VK420"} and status == 1, report


def test_haproxy_binding_the_vip_without_nonlocal_bind_named(topology, lan, files):
    ns = lan["a"].ns
    correct(topology, ns)
    sysctl(topology, ns, **{"net.ipv4.ip_nonlocal_bind": 0})
    status, report, found = preflight(topology, ns, files)
    assert found == {"VK430"} and status == 2, report
    (f,) = [f for f in report["findings"] if f["rule"] == "VK430"]
    assert f["file"] == str(files[1]) and f["line"] == 3
    # and haproxy itself indeed cannot start there (what the finding says would break)
    run = topology.run(ns, ["timeout", "2", "/usr/sbin/haproxy", "-db", "-f", str(files[1])], check=False)
    said = (run.stderr + run.stdout).lower()
    assert run.returncode not in (0, 124) and ("cannot bind" in said or "cannot assign" in said), said


def test_proc_hidepid_named(topology, lan, files):
    ns = lan["a"].ns
    correct(topology, ns)
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t proc -o hidepid=invisible proc /proc && exec "$@"', "sh"]
    status, report, found = preflight(topology, ns, files, wrap=wrap)
    assert found == {"VK441"} and status == 2, report


def test_iptables_nft_rules_are_evaluated_in_order(topology, lan, files):
    """iptables-nft rules live in the nft ruleset: an output DROP of protocol 112 is VK402; an
    INPUT rule with a match this evaluator does not model (-m limit) before a DROP is VK403
    "cannot decide", naming that rule, not a guess; an ACCEPT of the peer subnet before the DROP
    makes input fine."""
    ns = lan["a"].ns
    correct(topology, ns)
    topology.run(ns, ["iptables-nft", "-A", "OUTPUT", "-p", "112", "-j", "DROP"])
    topology.run(ns, ["iptables-nft", "-A", "INPUT", "-m", "limit", "--limit", "1/s", "-j", "ACCEPT"])
    topology.run(ns, ["iptables-nft", "-A", "INPUT", "-p", "112", "-j", "DROP"])
    status, report, found = preflight(topology, ns, files)
    assert found == {"VK402", "VK403"} and status == 2, report
    undecided = next(f for f in report["findings"] if f["rule"] == "VK403")
    assert "limit" in undecided["message"] and "limit" in undecided["evidence"][0]
    topology.run(ns, ["iptables-nft", "-F", "INPUT"])
    topology.run(ns, ["iptables-nft", "-A", "INPUT", "-s", "192.0.2.0/24", "-p", "112", "-j", "ACCEPT"])
    topology.run(ns, ["iptables-nft", "-A", "INPUT", "-p", "112", "-j", "DROP"])
    topology.run(ns, ["iptables-nft", "-F", "OUTPUT"])
    status, report, found = preflight(topology, ns, files)
    assert found == set() and status == 0, report


def test_interface_problems_named(topology, lan, files, tmp_path):
    """A missing interface (VK410) and one without MULTICAST (VK412), as the kernel reports them."""
    ns = lan["a"].ns
    correct(topology, ns)
    topology.run(ns, ["ip", "link", "set", "eth0", "multicast", "off"])
    conf = tmp_path / "two.conf"
    second = CONF[CONF.index("vrrp_instance"):].replace("VI_1", "VI_2").replace("eth0", "nosuch0")
    conf.write_text(CONF + second.replace("virtual_router_id 51", "virtual_router_id 52"))
    status, report, found = preflight(topology, ns, (conf, files[1]))
    assert found == {"VK410", "VK412"} and status == 2, report
    missing = next(f for f in report["findings"] if f["rule"] == "VK410")
    assert "nosuch0" in missing["message"] and missing["file"] == str(conf)


def test_missing_capabilities_named(topology, lan, files):
    """The daemon's capabilities: run without CAP_NET_RAW and CAP_KILL (bounding set), each named."""
    ns = lan["a"].ns
    correct(topology, ns)
    wrap = ["setpriv", "--bounding-set", "-net_raw,-kill", "--"]
    status, report, found = preflight(topology, ns, files, wrap=wrap)
    assert found == {"VK450"} and status == 2, report
    caps = sorted(f["message"].split()[3].rstrip(",") for f in report["findings"] if f["rule"] == "VK450")
    assert caps == ["CAP_KILL", "CAP_NET_RAW"]
