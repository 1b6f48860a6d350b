"""`vipkeeper check` is never weaker than `keepalived -t` (2.2.7): over keepalived's samples, the
seed pair and the broken files of tests/data/check-broken, run by both tools in one namespace
(eth0..eth3 exist, eth9 does not), vipkeeper fails every file keepalived fails, names every line
keepalived names, and mirrors keepalived's exit 6 (scripts without enable_script_security).
The table is printed (pytest -s) for the record."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from vipkeeper.lab.topology import Topology


def _load_compare():  # type: ignore[no-untyped-def]
    """tests/net/check_compare.py (also a script printing the table); tests are not a package."""
    name = "vipkeeper_tests_check_compare"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("check_compare.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_compare = _load_compare()
BROKEN, HEADER, SAMPLES, SEEDS = _compare.BROKEN, _compare.HEADER, _compare.SAMPLES, _compare.SEEDS
Verdict, compare, make_interfaces = _compare.Verdict, _compare.compare, _compare.make_interfaces

pytestmark = pytest.mark.net

# Broken files keepalived -t passes (exit 0) and vipkeeper passes too, naming the keyword it does
# not act on at its line: a feature keepalived has and vipkeeper lacks, but whose absence changes
# neither the wire nor who holds the VIP.
NAMED_ONLY = {
    "enable-snmp.conf": ("enable_snmp_vrrp", "enable_snmp_rfc", "enable_traps"),
    "enable-dbus.conf": ("enable_dbus",),
}
# Broken files once named as not acted on, now acted on (issue 19): both tools pass them, and
# vipkeeper names none of these keywords.
ACTS = {
    "notification-email.conf": ("notification_email", "smtp_server", "smtp_alert"),
    "startup-shutdown-script.conf": ("startup_script", "shutdown_script"),
    "use-ipvlan.conf": ("use_ipvlan",),
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, Verdict]:
    topology = Topology()
    try:
        ns = topology.add_namespace("check")
        make_interfaces(topology, ns)
        found = {}
        for path in (*SAMPLES, *SEEDS, *BROKEN):
            verdict = compare(topology, ns, path)
            found[verdict.name] = verdict
    finally:
        topology.close()
    print("\n" + HEADER)
    for verdict in found.values():
        print(verdict.row())
    return found


def test_the_inputs_are_all_there():
    assert len(SAMPLES) == 25 and len(SEEDS) == 3
    assert len(BROKEN) >= 20
    readme = (BROKEN[0].parent / "README.md").read_text()
    described = set(re.findall(r"^- (\S+\.conf): ", readme, re.MULTILINE))
    assert described == {p.name for p in BROKEN}, "each broken file has one README line saying what it breaks"


def test_never_weaker_than_keepalived(verdicts):
    weaker = [f"{v.name}: keepalived {v.k_exit} {sorted(v.k_lines)}, vipkeeper {v.v_exit} {sorted(v.v_lines)}\n"
              f"{v.k_output}{v.v_output}" for v in verdicts.values() if v.weaker]
    assert not weaker, "\n".join(weaker)
    # the comparison has teeth: keepalived fails a good share of these files and names lines
    assert sum(1 for v in verdicts.values() if v.k_exit != 0) >= 20
    assert sum(len(v.k_lines) for v in verdicts.values()) >= 30


def test_security_exit_mirrored(verdicts):
    sixes = [v for v in verdicts.values() if v.k_exit == 6]
    assert len(sixes) >= 2
    for verdict in sixes:
        assert verdict.v_exit in (1, 6), verdict.v_output
        assert "SECURITY VIOLATION - scripts are being executed but script_security not enabled." in verdict.v_output


def test_every_broken_file_fails_or_names_what_vipkeeper_does_not_do(verdicts):
    for path in BROKEN:
        verdict = verdicts[f"check-broken/{path.name}"]
        if path.name == "opt-out-old-unicast-checksum.conf":
            assert verdict.v_exit == 0 and f"{path}:12: unsupported: 'old_unicast_checksum'" in verdict.v_output
            assert "running without it as vipkeeper_run_without at" in verdict.v_output
            continue
        if path.name in ACTS:
            assert verdict.v_exit == 0 == verdict.k_exit, verdict.v_output
            assert not any(f"'{keyword}'" in verdict.v_output for keyword in ACTS[path.name]), verdict.v_output
            continue
        if path.name not in NAMED_ONLY:
            assert verdict.v_exit != 0, f"{path.name} passed:\n{verdict.v_output}"
            continue
        assert verdict.v_exit == 0 == verdict.k_exit, verdict.v_output
        lines = path.read_text().splitlines()
        for keyword in NAMED_ONLY[path.name]:
            number = next(n for n, line in enumerate(lines, 1) if line.split() and line.split()[0] == keyword)
            assert re.search(rf"^{re.escape(str(path))}:{number}: unsupported: '{keyword}' is not supported by "
                             r"vipkeeper \(keepalived would .+\)$", verdict.v_output, re.MULTILINE), verdict.v_output


def test_the_issue_cases_fail(verdicts):
    """The cases of issue 15 that used to end `... usable`, exit 0."""
    expected = {  # file: (keepalived -t exit, vipkeeper check exit, a line vipkeeper must name)
        "misspelt-priority.conf": (5, 5, 11),
        "vip-invalid-octet.conf": (5, 5, 12),
        "priority-256.conf": (5, 5, 9),
        "missing-interface.conf": (5, 5, 7),
        "track-script-file-missing.conf": (5, 5, 6),
        "auth-ah.conf": (0, 1, 12),
        "virtual-route-option.conf": (0, 1, 12),
        "virtual-rule-option.conf": (0, 1, 12),
        # keepalived 2.2.7 (Debian, nftables build) warns and uses nftables; so does vipkeeper
        "vrrp-iptables.conf": (5, 5, 3),
        # keepalived warns "Cannot specify VRF interface and interface - ignoring"; so does vipkeeper
        "vrf-with-interface.conf": (5, 5, 11),
        # the opt-out: vipkeeper runs without the old checksum and says so; keepalived calls the keyword unknown
        "opt-out-old-unicast-checksum.conf": (5, 0, 12),
    }
    for name, (k_exit, v_exit, line) in expected.items():
        verdict = verdicts[f"check-broken/{name}"]
        assert (verdict.k_exit, verdict.v_exit) == (k_exit, v_exit), (name, verdict.k_output, verdict.v_output)
        assert line in verdict.v_lines, (name, verdict.v_output)
