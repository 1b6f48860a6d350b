"""Each lint rule: a config that triggers it and one that must not. Through real files and
`vipkeeper.config.load`, as `vipkeeper lint` reads them."""

from __future__ import annotations

import os
import textwrap

import pytest

from vipkeeper.diagnose.lint import lint_files
from vipkeeper.diagnose.lint_rules import RULES

GOOD_SCRIPT = "#!/bin/sh\nexec /usr/bin/true\n"


def instance(name="VI_1", *, state="BACKUP", priority=100, vrid=51, iface="eth0", body="",
             vips=("192.0.2.100/24",)) -> str:
    vip_lines = "\n".join(f"    {v}" for v in vips)
    return textwrap.dedent(f"""\
        vrrp_instance {name} {{
          state {state}
          interface {iface}
          virtual_router_id {vrid}
          priority {priority}
          advert_int 1
        """) + textwrap.indent(textwrap.dedent(body), "  ") + f"  virtual_ipaddress {{\n{vip_lines}\n  }}\n}}\n"


def write(tmp_path, name: str, text: str, mode: int = 0o644) -> str:
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def rules_of(tmp_path, *configs: str, scripts: dict[str, tuple[str, int]] | None = None, root=None):
    for sname, (stext, smode) in (scripts or {}).items():
        write(tmp_path, sname, stext, smode)
    paths = [write(tmp_path, f"node{i + 1}.conf", text) for i, text in enumerate(configs)]
    result = lint_files(paths, root=root)
    return {f.rule for f in result.findings}, result.findings


SECURE = "global_defs {\n  script_user root\n  enable_script_security\n}\n"


def script_block(name="chk", command="/etc/keepalived/chk.sh", extra="interval 2\n  fall 2\n  rise 2\n") -> str:
    return f'vrrp_script {name} {{\n  script "{command}"\n  {extra}}}\n'


TRACK_HAPROXY = "vrrp_track_process track_haproxy {\n  process haproxy\n  delay 1\n}\n"
USES_BOTH = "track_script {\n  chk\n}\ntrack_process {\n  track_haproxy\n}\n"


# ---- one node ---------------------------------------------------------------------------

TRACK_GROUP = "track_group G1 {\n  group {\n    VI_1\n  }\n}\n"

CASES = [
    # rule, config, scripts(name -> text, mode), triggered?
    ("VK101", SECURE + script_block() + TRACK_HAPROXY + instance(body=USES_BOTH),
     {"chk.sh": ("#!/bin/sh\npidof -q haproxy || exit 1\n", 0o755)}, True),
    ("VK101", SECURE + script_block() + TRACK_HAPROXY + instance(body=USES_BOTH),
     {"chk.sh": ("#!/bin/sh\ncurl -fs http://127.0.0.1/ >/dev/null\n", 0o755)}, False),
    ("VK101", SECURE + script_block(command="systemctl is-active --quiet postfix")
     + "vrrp_track_process tp {\n  process master\n  delay 1\n}\n"
     + instance(body="track_script {\n  chk\n}\ntrack_process {\n  tp\n}\n"), {}, True),
    ("VK102", SECURE + script_block() + instance(body="track_script {\n  chk\n}\n"),
     {"chk.sh": ('#!/bin/sh\n[ -n "$(pidof haproxy)" ]\n', 0o755)}, True),
    ("VK102", SECURE + script_block(command="pgrep -c nginx | grep -q 1") + instance(body="track_script {\n  chk\n}\n"),
     {}, True),
    ("VK102", SECURE + script_block() + instance(body="track_script {\n  chk\n}\n"),
     {"chk.sh": ("#!/bin/sh\npidof -q haproxy\n", 0o755)}, False),
    ("VK103", SECURE + script_block(command="pidof haproxy") + instance(body="track_script {\n  chk\n}\n"), {}, True),
    ("VK103", SECURE + script_block(command="pidof -q haproxy") + instance(body="track_script {\n  chk\n}\n"), {}, False),
    ("VK104", "vrrp_track_process t {\n  process haproxy\n}\n" + instance(body="track_process {\n  t\n}\n"), {}, True),
    ("VK104", "vrrp_track_process t {\n  process haproxy\n  terminate_delay 2\n}\n"
     + instance(body="track_process {\n  t\n}\n"), {}, False),
    ("VK104", "vrrp_track_process t {\n  process sleep\n}\n" + instance(body="track_process {\n  t\n}\n"), {}, False),
    ("VK105", SECURE + script_block(command="/bin/true", extra="interval 2\n  timeout 3\n  rise 2\n  fall 2\n")
     + instance(body="track_script {\n  chk\n}\n"), {}, True),
    ("VK105", SECURE + script_block(command="/bin/true", extra="interval 2\n  timeout 1\n  rise 2\n  fall 2\n")
     + instance(body="track_script {\n  chk\n}\n"), {}, False),
    ("VK106", SECURE + script_block(command="/bin/true", extra="interval 5\n  weight -20\n")
     + instance(body="track_script {\n  chk\n}\n"), {}, True),
    ("VK106", SECURE + script_block(command="/bin/true", extra="interval 1\n")
     + instance(body="track_script {\n  chk\n}\n"), {}, True),
    ("VK106", SECURE + script_block(command="/bin/true", extra="interval 5\n")
     + instance(body="track_script {\n  chk\n}\n"), {}, False),
    ("VK106", SECURE + script_block(command="/bin/true", extra="interval 1\n  weight -20\n  rise 2\n  fall 3\n")
     + instance(body="track_script {\n  chk\n}\n"), {}, False),
    ("VK107", SECURE + script_block(command="/bin/true", extra="interval 0.2\n  rise 2\n  fall 2\n")
     + instance(body="track_script {\n  chk\n}\n"), {}, True),
    ("VK107", SECURE + script_block(command="/bin/true") + instance(body="track_script {\n  chk\n}\n"), {}, False),
    ("VK108", SECURE + script_block() + instance(body="track_script {\n  chk\n}\n"),
     {"chk.sh": (GOOD_SCRIPT, 0o777)}, True),
    ("VK108", SECURE + script_block() + instance(body="track_script {\n  chk\n}\n"),
     {"chk.sh": (GOOD_SCRIPT, 0o755)}, False),
    ("VK111", SECURE + script_block() + instance(body="track_script {\n  chk\n}\n"),
     {"chk.sh": (GOOD_SCRIPT, 0o644)}, True),
    ("VK112", SECURE + script_block(command="/bin/true", extra="interval 2\n  weight -50\n  rise 2\n  fall 2\n")
     + instance(priority=255, state="MASTER", body="track_script {\n  chk\n}\n"), {}, True),
    ("VK112", SECURE + script_block(command="/bin/true") + instance(priority=255, state="MASTER",
                                                                     body="track_script {\n  chk\n}\n"), {}, False),
    ("VK201", instance(body="vrrp_version 3\n"), {}, True),
    ("VK201", "global_defs {\n  vrrp_version 3\n}\n" + instance(), {}, False),
    ("VK202", instance(state="MASTER", body="nopreempt\n"), {}, True),
    ("VK202", instance(state="BACKUP", body="nopreempt\n"), {}, False),
    ("VK203", instance("VI_1", vrid=7) + instance("VI_2", vrid=7, vips=("192.0.2.101/24",)), {}, True),
    ("VK203", instance("VI_1", vrid=7) + instance("VI_2", vrid=8, vips=("192.0.2.101/24",)), {}, False),
    ("VK203", instance("VI_1", vrid=7) + instance("VI_2", vrid=7, iface="eth1", vips=("192.0.2.101/24",)), {}, False),
    ("VK204", "global_defs {\n  vrrp_strict\n}\n"
     + instance(body="unicast_src_ip 192.0.2.1\nunicast_peer {\n  192.0.2.2\n}\n"), {}, True),
    ("VK204", instance(body="unicast_src_ip 192.0.2.1\nunicast_peer {\n  192.0.2.2\n}\n"), {}, False),
    ("VK205", instance(vips=tuple(f"192.0.2.{i}/24" for i in range(10, 32))), {}, True),
    ("VK205", instance(vips=tuple(f"192.0.2.{i}/24" for i in range(10, 30))), {}, False),
    ("VK206", instance(vips=("198.51.100.10/24",), body="unicast_src_ip 192.0.2.1\nunicast_peer {\n  192.0.2.2\n}\n"),
     {}, True),
    ("VK206", instance(vips=("192.0.2.10/24",), body="unicast_src_ip 192.0.2.1\nunicast_peer {\n  192.0.2.2\n}\n"),
     {}, False),
    ("VK207", instance(body="advert_int 0.5\n"), {}, True),
    ("VK207", instance(body="version 3\nadvert_int 0.5\n"), {}, False),
    ("VK208", instance(body="version 3\nauthentication {\n  auth_type PASS\n  auth_pass secret\n}\n"), {}, True),
    ("VK208", instance(body="authentication {\n  auth_type PASS\n  auth_pass secret\n}\n"), {}, False),
    ("VK002", instance(body="preemt_delay 5\n"), {}, True),
    ("VK209", "global_defs {\n  vrrp_strict\n}\n"
     + instance(body="authentication {\n  auth_type PASS\n  auth_pass secret\n}\n"), {}, True),
    ("VK209", instance(body="authentication {\n  auth_type PASS\n  auth_pass secret\n}\n"), {}, False),
    ("VK210", instance(body="smtp_alert\n"), {}, True),
    ("VK210", "global_defs {\n  notification_email {\n    a@example.com\n  }\n  smtp_server 192.0.2.9\n}\n"
     + instance(body="smtp_alert\n"), {}, False),
    ("VK211", "global_defs {\n  vrrp_strict\n}\n" + instance(), {}, True),
    ("VK211", "global_defs {\n  vrrp_strict\n  nftables\n}\n" + instance(), {}, False),
    ("VK212", "global_defs {\n  vrrp_iptables\n  vrrp_strict\n}\n" + instance(), {}, True),
    ("VK212", "global_defs {\n  nftables\n}\n" + instance(), {}, True),  # accept mode: drops nothing
    ("VK212", "global_defs {\n  nftables\n  vrrp_strict\n}\n" + instance(), {}, False),
    ("VK213", "global_defs {\n  vrrp_rt_priority 50\n}\n" + instance(), {}, True),
    ("VK213", "global_defs {\n  vrrp_rt_priority 50\n  vrrp_no_swap\n}\n" + instance(), {}, False),
    ("VK214", "interface_up_down_delays {\n  eth0 2\n}\n" + instance(), {}, True),
    ("VK214", "interface_up_down_delays {\n  eth0 1.5\n}\n" + instance(), {}, False),
    ("VK215", instance(body="use_vmac\n"), {}, True),
    ("VK215", instance(body="use_vmac\n", vips=("2001:db8::10/64",)), {}, False),
    ("VK215", instance(body="use_vmac_addr\n", vips=("192.0.2.100/24", "198.51.100.1/24 dev eth1")), {}, True),
    ("VK215", instance(body="use_vmac_addr\n", vips=("192.0.2.100/24",)), {}, False),  # no address VMAC
    ("VK216", instance(body="virtual_routes {\n  198.51.100.0/24 via 192.0.2.254 dev eth0\n}\n"), {}, True),
    ("VK216", instance(body="virtual_routes {\n  198.51.100.0/24 via 192.0.2.254 dev eth0 no_track\n}\n"), {}, False),
    ("VK216", instance(body="virtual_routes {\n  198.51.100.0/24 via 192.0.2.254 dev eth0 table 7\n}\n"), {}, False),
    ("VK215", instance(body="use_ipvlan ipvl9 192.0.2.11/24\n"), {}, False),  # no virtual MAC to undo
    ("VK220", instance(body="use_ipvlan ipvl9 192.0.2.11/24\n"), {}, True),
    ("VK220", instance(body="use_vmac\n"), {}, False),
    ("VK221", TRACK_GROUP + "static_ipaddress {\n  198.51.100.5/24 dev eth0 track_group G1\n}\n" + instance(), {}, True),
    ("VK221", TRACK_GROUP + "static_rules {\n  from 198.51.100.0/24 table 7 priority 7 track_group G1\n}\n"
     + instance(), {}, True),
    ("VK221", TRACK_GROUP + "static_ipaddress {\n  198.51.100.5/24 dev eth1 track_group G1\n}\n" + instance(), {}, False),
    ("VK221", TRACK_GROUP + "static_ipaddress {\n  198.51.100.5/24 dev eth0 track_group G1\n}\n"
     + instance(body="dont_track_primary\n"), {}, False),
    ("VK222", instance(body="garp_extra_if all 60\n"), {}, True),  # every VIP on eth0
    ("VK222", instance(body="garp_extra_if 60\n", vips=("192.0.2.100/24", "198.51.100.1/24 dev eth1")), {}, True),
    ("VK222", instance(body="garp_extra_if all 60\n", vips=("192.0.2.100/24", "198.51.100.1/24 dev eth1")), {},
     False),
    ("VK222", instance(body="garp_extra_if 0\n"), {}, False),
    # a VIP on its address VMAC (use_vmac_addr) is on a VMAC of ours: refreshed without `all`
    ("VK222", instance(body="garp_extra_if 60\nuse_vmac_addr\n", vips=("192.0.2.100/24", "198.51.100.1/24 dev eth1")),
     {}, False),
]


@pytest.mark.parametrize("rule, config, scripts, expected", CASES,
                         ids=[f"{c[0]}-{'hit' if c[3] else 'clean'}-{i}" for i, c in enumerate(CASES)])
def test_node_rule(tmp_path, rule, config, scripts, expected):
    root = None
    if scripts:
        etc = tmp_path / "root" / "etc" / "keepalived"
        etc.mkdir(parents=True)
        for name, (text, mode) in scripts.items():
            write(etc, name, text, mode)
        os.chmod(tmp_path / "root" / "etc", 0o755)
        root = str(tmp_path / "root")
    found, findings = rules_of(tmp_path, config, root=root)
    assert (rule in found) is expected, [f.as_text() for f in findings]


def test_script_found_beside_config_says_so(tmp_path):
    found, findings = rules_of(tmp_path, SECURE + script_block() + instance(body="track_script {\n  chk\n}\n"),
                               scripts={"chk.sh": ('#!/bin/sh\n[ -n "$(pidof haproxy)" ]\n', 0o755)})
    assert "VK102" in found
    vk102 = next(f for f in findings if f.rule == "VK102")
    assert vk102.where.file.endswith("chk.sh") and vk102.where.line == 2
    assert any(f.rule == "VK111" and "next to the config" in f.message for f in findings)


def test_missing_script_is_info_not_error(tmp_path):
    found, findings = rules_of(tmp_path, SECURE + script_block(command="/nonexistent/vk/chk.sh")
                               + instance(body="track_script {\n  chk\n}\n"))
    vk111 = [f for f in findings if f.rule == "VK111"]
    assert vk111 and vk111[0].severity == "info" and "not found" in vk111[0].message


def test_vk109_without_script_user_when_keepalived_script_is_missing(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    cfg = "global_defs {\n  enable_script_security\n}\n" + script_block(command="/bin/true") + instance(
        body="track_script {\n  chk\n}\n")
    found, _ = rules_of(tmp_path, cfg, root=str(root))
    assert "VK109" in found
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nkeepalived_script:x:999:999::/:/bin/false\n")
    found, _ = rules_of(tmp_path, cfg, root=str(root))
    assert "VK109" not in found


def test_writable_directory_counts_under_root(tmp_path):
    root = tmp_path / "root"
    etc = root / "etc" / "keepalived"
    etc.mkdir(parents=True)
    write(etc, "chk.sh", GOOD_SCRIPT, 0o755)
    os.chmod(root / "etc", 0o755)
    os.chmod(etc, 0o777)
    found, findings = rules_of(tmp_path, SECURE + script_block() + instance(body="track_script {\n  chk\n}\n"),
                               root=str(root))
    vk108 = next(f for f in findings if f.rule == "VK108")
    assert vk108.severity == "error" and "directory" in vk108.message and "disables" in vk108.message


# ---- several nodes ----------------------------------------------------------------------

UNI = "unicast_src_ip {src}\nunicast_peer {{\n  {peer}\n}}\n"
WITNESS = "vipkeeper_witness etcd {\n  endpoints http://192.0.2.11:2379\n  prefix /vipkeeper\n}\n"

CLUSTER = [
    ("VK301", instance(state="MASTER", priority=150), instance(vrid=52), True),
    ("VK302", instance(state="MASTER", priority=150, body="version 3\n"), instance(), True),
    ("VK303", instance(state="MASTER", priority=150, body="advert_int 2\n"), instance(), True),
    ("VK304", instance(state="MASTER", priority=150, body="authentication {\n  auth_type PASS\n  auth_pass a\n}\n"),
     instance(body="authentication {\n  auth_type PASS\n  auth_pass b\n}\n"), True),
    ("VK305", instance(state="MASTER", priority=150), instance(vips=("192.0.2.101/24",)), True),
    ("VK306", instance(state="MASTER"), instance(state="MASTER"), True),
    ("VK306", instance(state="MASTER", priority=150), instance(state="BACKUP"), False),
    ("VK307", instance(state="MASTER", priority=150, body=UNI.format(src="192.0.2.1", peer="192.0.2.2")),
     instance(body=UNI.format(src="192.0.2.3", peer="192.0.2.1")), True),
    ("VK307", instance(state="MASTER", priority=150, body=UNI.format(src="192.0.2.1", peer="192.0.2.2")),
     instance(body=UNI.format(src="192.0.2.2", peer="192.0.2.1")), False),
    ("VK307", instance(state="MASTER", priority=150, body=UNI.format(src="192.0.2.1", peer="192.0.2.2")),
     instance(), True),
    ("VK308", instance(state="MASTER", priority=150), instance("VI_9", vrid=60), True),
    ("VK308", instance("VI_A", state="MASTER", priority=150), instance("VI_B"), False),  # paired by VRID
    ("VK309", instance(state="MASTER", priority=255), instance(priority=255), True),
    ("VK310", instance(state="MASTER", priority=150, body="down_timer_adverts 5\n"), instance(), True),
    ("VK311", instance(state="MASTER", priority=150, body="mcast_dst_ip 224.0.0.19\n"), instance(), True),
    ("VK312", instance(state="MASTER", priority=150, body="use_vmac\n"), instance(), True),
    ("VK312", instance(state="MASTER", priority=150, body="use_vmac\n"), instance(body="use_vmac\n"), False),
    # an ipvlan carries the node's own MAC: beside no VMAC nothing changes, beside a VMAC the MAC moves
    ("VK312", instance(state="MASTER", priority=150, body="use_ipvlan ipvl9 192.0.2.11/24\n"), instance(), False),
    ("VK312", instance(state="MASTER", priority=150, body="use_ipvlan ipvl9 192.0.2.11/24\n"),
     instance(body="use_vmac\n"), True),
    ("VK317", WITNESS + instance(state="MASTER", priority=150, body="witness etcd\n"), instance(), True),
    ("VK317", WITNESS + instance(state="MASTER", priority=150, body="witness etcd\n"),
     WITNESS.replace("/vipkeeper", "/other") + instance(body="witness etcd\n"), True),
    ("VK317", WITNESS + instance(state="MASTER", priority=150, body="witness etcd\n"),
     WITNESS + instance(body="witness etcd\n"), False),
    ("VK318", "global_defs {\n  router_id lb\n}\n" + WITNESS + instance(state="MASTER", priority=150, body="witness etcd\n"),
     "global_defs {\n  router_id lb\n}\n" + WITNESS + instance(body="witness etcd\n"), True),
    ("VK318", "global_defs {\n  router_id lb1\n}\n" + WITNESS + instance(state="MASTER", priority=150, body="witness etcd\n"),
     "global_defs {\n  router_id lb2\n}\n" + WITNESS + instance(body="witness etcd\n"), False),
]


@pytest.mark.parametrize("rule, a, b, expected", CLUSTER,
                         ids=[f"{c[0]}-{'hit' if c[3] else 'clean'}-{i}" for i, c in enumerate(CLUSTER)])
def test_cluster_rule(tmp_path, rule, a, b, expected):
    found, findings = rules_of(tmp_path, a, b)
    assert (rule in found) is expected, [f.as_text() for f in findings]


def test_clean_pair_has_no_findings(tmp_path):
    found, findings = rules_of(tmp_path, instance(state="MASTER", priority=150), instance())
    assert findings == []


def test_every_rule_is_documented_once():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.title and r.severity in ("error", "warning", "info") for r in RULES)
    tested = {c[0] for c in CASES} | {c[0] for c in CLUSTER}
    untested = {r.id for r in RULES} - tested - {"VK000", "VK001", "VK003", "VK109", "VK110"}
    assert not untested, untested
