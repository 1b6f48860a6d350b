"""virtual_routes / virtual_rules move with the Master, static_routes / static_rules stay while the
daemon runs, in a mixed pair with keepalived 2.2.7 on the same configuration:

- on whichever node is Master, `ip route` / `ip rule` show the virtual entries, and the ones
  vipkeeper installs read exactly as the ones keepalived installs (`proto keepalived` included);
  the Backup shows none of them; static entries are on both and gone after exit;
- a reload that changes one route removes and adds only that one (watched with `ip monitor`),
  the others are never touched;
- static_ipaddress is added at start and removed at exit, as by keepalived;
- a route or static address the admin added before the daemon, with the same key, is left alone
  at exit.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

ADV = 0.5
VIP = "192.0.2.71/24"
ROUTES = ["198.51.100.0/26 via 192.0.2.254 dev eth0",
          "blackhole 198.51.100.128/26",
          "src 192.0.2.71 198.51.100.192/27 dev eth0 table 100 metric 7"]
RULES = ["from 198.51.100.0/24 table 100 priority 100",
         "to 198.51.100.5 fwmark 5 table 101 priority 200"]
STATIC = ("static_ipaddress {\n  198.51.100.250/32 dev eth0 scope link\n}\n"
          "static_routes {\n  198.51.100.224/28 via 192.0.2.254 dev eth0\n}\n"
          "static_rules {\n  from 192.0.2.0/24 table 102 priority 300\n}\n")
# as `ip route show table all proto keepalived` prints them (the filter drops the proto word)
VIRTUAL_ROUTES = {"198.51.100.0/26 via 192.0.2.254 dev eth0",
                  "blackhole 198.51.100.128/26",
                  "198.51.100.192/27 dev eth0 table 100 src 192.0.2.71 metric 7"}
STATIC_ROUTES = {"198.51.100.224/28 via 192.0.2.254 dev eth0"}
VIRTUAL_RULES = {"100: from 198.51.100.0/24 lookup 100 proto keepalived",
                 "200: from all to 198.51.100.5 fwmark 0x5 lookup 101 proto keepalived"}
STATIC_RULES = {"300: from 192.0.2.0/24 lookup 102 proto keepalived"}


def conf(priority: int, routes=ROUTES, rules=RULES) -> str:
    extra = ["virtual_routes {", *(f"  {r}" for r in routes), "}", "virtual_rules {", *(f"  {r}" for r in rules), "}"]
    return STATIC + vrrp_conf("VI_1", vrid=71, priority=priority, vips=[VIP], advert_int=ADV, extra=extra)


def ip(bed: Testbed, name: str, *args: str) -> list[str]:
    out = subprocess.run(["ip", "-n", bed.nodes[name].ns, *args], capture_output=True, text=True, timeout=10,
                         check=True)
    return [" ".join(line.split()) for line in out.stdout.splitlines() if line.strip()]


def ours(bed: Testbed, name: str) -> tuple[set[str], set[str]]:
    """The routes (all tables) and rules with protocol keepalived on node `name`."""
    routes = set(ip(bed, name, "route", "show", "table", "all", "proto", "keepalived"))
    rules = {r for r in ip(bed, name, "rule", "show") if "proto keepalived" in r}
    return routes, rules


def wait_entries(bed: Testbed, name: str, routes: set[str], rules: set[str], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = ours(bed, name)
        if got == (routes, rules):
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{name}: routes/rules {got}, expected {(routes, rules)}")
        time.sleep(0.05)


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=False) as tb:
        yield tb


def test_virtual_entries_follow_the_master_and_read_as_keepalived_s(bed: Testbed) -> None:
    bed.start("b", kind="keepalived", conf=conf(100))
    bed.wait_sole("b", VIP, 3 * ADV + 5.0)
    # keepalived as Master: the reference
    wait_entries(bed, "b", VIRTUAL_ROUTES | STATIC_ROUTES, VIRTUAL_RULES | STATIC_RULES)
    bed.start("a", conf=conf(150))
    bed.wait_sole("a", VIP, 3 * ADV + 5.0)
    # vipkeeper preempted: it shows the very same entries, keepalived (now Backup) only its static ones
    wait_entries(bed, "a", VIRTUAL_ROUTES | STATIC_ROUTES, VIRTUAL_RULES | STATIC_RULES)
    wait_entries(bed, "b", STATIC_ROUTES, STATIC_RULES)
    # vipkeeper goes to BACKUP when a higher-priority keepalived appears... simulated by stopping
    # vipkeeper: its virtual and static entries are gone, keepalived takes the virtual ones back
    static_address = "inet 198.51.100.250/32 scope link eth0"
    assert [static_address in " ".join(ip(bed, n, "addr", "show", "dev", "eth0")) for n in "ab"] == [True, True]
    bed.stop("a")
    wait_entries(bed, "a", set(), set())
    assert static_address not in " ".join(ip(bed, "a", "addr", "show", "dev", "eth0"))
    bed.wait_sole("b", VIP, 3 * ADV + 5.0)
    wait_entries(bed, "b", VIRTUAL_ROUTES | STATIC_ROUTES, VIRTUAL_RULES | STATIC_RULES)


def test_backup_removes_the_virtual_entries(bed: Testbed) -> None:
    bed.start("a", conf=conf(100))
    bed.wait_sole("a", VIP, 3 * ADV + 5.0)
    wait_entries(bed, "a", VIRTUAL_ROUTES | STATIC_ROUTES, VIRTUAL_RULES | STATIC_RULES)
    bed.start("b", kind="keepalived", conf=conf(200))
    bed.wait_sole("b", VIP, 3 * ADV + 5.0)
    # vipkeeper is Backup now: only its static entries are left
    wait_entries(bed, "a", STATIC_ROUTES, STATIC_RULES)
    assert "Entering BACKUP STATE" in bed.log_text("a")


def test_reload_changing_one_route_leaves_the_others_in_place(bed: Testbed) -> None:
    bed.start("a", conf=conf(150))
    bed.wait_sole("a", VIP, 3 * ADV + 5.0)
    wait_entries(bed, "a", VIRTUAL_ROUTES | STATIC_ROUTES, VIRTUAL_RULES | STATIC_RULES)
    monitor = subprocess.Popen(["ip", "-n", bed.nodes["a"].ns, "monitor", "route", "rule"],
                               stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # `ip monitor` has no ready signal: give it time to subscribe
        changed = [r.replace("metric 7", "metric 9") for r in ROUTES]
        bed.write_conf("a", conf(150, routes=changed))
        bed.daemon("a").kill(signal.SIGHUP)
        want = {r.replace("metric 7", "metric 9") for r in VIRTUAL_ROUTES}
        wait_entries(bed, "a", want | STATIC_ROUTES, VIRTUAL_RULES | STATIC_RULES)
        bed.daemon("a").log.wait_line(lambda line: "Reload finished" in line.text, 5.0)
        time.sleep(0.3)
    finally:
        monitor.terminate()
        events = monitor.communicate(timeout=5)[0].splitlines()
    events = [" ".join(e.split()) for e in events if e.strip()]
    # exactly one route went and one came; nothing else (other routes, rules, statics) moved
    assert len(events) == 2, events
    assert events[0].startswith("Deleted 198.51.100.192/27") and "metric 7" in events[0]
    assert events[1].startswith("198.51.100.192/27") and "metric 9" in events[1]
    assert bed.holders(VIP) == ["a"]


def test_an_admin_route_with_the_same_key_is_left_alone(bed: Testbed) -> None:
    ns = bed.nodes["a"].ns
    # and an admin's address equal to a static_ipaddress entry: not vipkeeper's, so it stays at exit
    subprocess.run(["ip", "-n", ns, "addr", "add", "198.51.100.250/32", "dev", "eth0", "scope", "link"],
                   check=True, timeout=10)
    subprocess.run(["ip", "-n", ns, "route", "add", "198.51.100.0/26", "via", "192.0.2.253", "dev", "eth0"],
                   check=True, timeout=10)
    bed.start("a", conf=conf(150))
    bed.wait_sole("a", VIP, 3 * ADV + 5.0)
    wait_entries(bed, "a", (VIRTUAL_ROUTES - {"198.51.100.0/26 via 192.0.2.254 dev eth0"})
                 | STATIC_ROUTES, VIRTUAL_RULES | STATIC_RULES)
    bed.stop("a")
    wait_entries(bed, "a", set(), set())
    assert "198.51.100.0/26 via 192.0.2.253 dev eth0" in ip(bed, "a", "route", "show")
    assert "inet 198.51.100.250/32 scope link eth0" in " ".join(ip(bed, "a", "addr", "show", "dev", "eth0"))
    assert "exists already and is not vipkeeper's" in bed.log_text("a")


def test_ipv6_entries_read_as_keepalived_s(topology) -> None:
    """IPv6 virtual routes and rules: installed by vipkeeper exactly as keepalived installs them
    from the same file (same `ip -6 route` / `ip -6 rule` lines), and gone after each exits."""
    extra = ["virtual_routes {", "  2001:db8:100::/48 via 2001:db8::254 dev eth0 metric 5",
             "  unreachable 2001:db8:200::/48 table 100", "}",
             "virtual_rules {", "  from 2001:db8:100::/48 table 100 priority 100", "}"]
    conf = vrrp_conf("VI_6", vrid=76, priority=150, vips=["2001:db8::76/64"], advert_int=ADV, extra=extra)
    seen = {}
    with Testbed(topology, ("a",), ipv6=True) as tb:
        for kind in ("keepalived", "vipkeeper"):
            tb.start("a", kind=kind, conf=conf)
            tb.wait_sole("a", "2001:db8::76/64", 3 * ADV + 5.0)
            deadline = time.monotonic() + 5
            while True:
                routes = set(ip(tb, "a", "-6", "route", "show", "table", "all", "proto", "keepalived"))
                rules = {r for r in ip(tb, "a", "-6", "rule", "show") if "proto keepalived" in r}
                if (len(routes), len(rules)) == (2, 1) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            seen[kind] = (routes, rules)
            tb.stop("a")
            assert not set(ip(tb, "a", "-6", "route", "show", "table", "all", "proto", "keepalived"))
            assert not [r for r in ip(tb, "a", "-6", "rule", "show") if "proto keepalived" in r]
    assert seen["vipkeeper"] == seen["keepalived"]
    assert len(seen["vipkeeper"][0]) == 2 and len(seen["vipkeeper"][1]) == 1, seen


@pytest.mark.parametrize("kind", ["keepalived", "vipkeeper"])
def test_a_tracked_entry_deleted_by_someone_else_makes_the_master_let_go(topology, kind: str) -> None:
    """keepalived's tracking, measured on keepalived itself and required of vipkeeper: someone
    deletes a virtual route (with a device) or a virtual rule of the Master: it sends priority 0
    and goes BACKUP, and the entry is back when it is Master again; deleting a `no_track` route
    changes nothing."""
    extra = ["virtual_routes {", "  198.51.100.0/24 via 192.0.2.254 dev eth0",
             "  198.51.100.128/25 via 192.0.2.254 dev eth0 no_track", "}",
             "virtual_rules {", "  from 198.51.100.0/24 table 100 priority 100", "}"]
    conf = vrrp_conf("VI_1", vrid=71, priority=150, vips=[VIP], advert_int=ADV, extra=extra)
    with Testbed(topology, ("a",), ipv6=False) as tb:
        tb.start("a", kind=kind, conf=conf)
        tb.wait_sole("a", VIP, 3 * ADV + 5.0)
        ns = tb.nodes["a"].ns
        for argv, tracked in ((["route", "del", "198.51.100.128/25"], False),
                              (["route", "del", "198.51.100.0/24"], True),
                              (["rule", "del", "priority", "100"], True)):
            before = len(tb.daemon("a").log.snapshot()) if kind == "vipkeeper" else None
            t = time.time()
            subprocess.run(["ip", "-n", ns, *argv], check=True, timeout=10)
            if not tracked:
                time.sleep(4 * ADV)  # nothing must happen: no event to wait for
                assert tb.priority_zero_at("a", t, 71) is None and tb.holders(VIP) == ["a"]
                continue
            deadline = time.monotonic() + 3 * ADV + 5.0
            while tb.priority_zero_at("a", t, 71) is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert tb.priority_zero_at("a", t, 71) is not None, argv
            # Master again (alone on the LAN), with the deleted entry back
            deadline = time.monotonic() + 3 * ADV + 8.0
            while time.monotonic() < deadline:
                routes = " ".join(ip(tb, "a", "route"))
                rules = " ".join(ip(tb, "a", "rule"))
                if tb.holders(VIP) == ["a"] and "198.51.100.0/24 via" in routes and "lookup 100" in rules:
                    break
                time.sleep(0.05)
            assert "198.51.100.0/24 via" in routes and "lookup 100" in rules, (routes, rules)
            assert before is None or any("Entering BACKUP STATE" in line.text
                                         for line in tb.daemon("a").log.snapshot()[before:])
