"""Keyword tables, defaults and cross-reference checks, each against keepalived 2.2.7's
behaviour as `keepalived -t` showed it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from vipkeeper.config import load, loads

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def inst(body: str, head: str = "", vips: str = "192.0.2.10/24"):
    text = (f"{head}\nvrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n{body}\n"
            f" virtual_ipaddress {{\n {vips}\n }}\n}}\n")
    config = loads(text, name="t.conf", config_id="x")
    return config, (config.instances[0] if config.instances else None)


def messages(config, severity=None):
    return [d.message for d in config.diagnostics if severity is None or d.severity == severity]


def test_defaults_are_keepalived_defaults():
    config, i = inst("")
    assert (i.state, i.priority, i.advert_int, i.version, i.family) == ("BACKUP", 100, 1.0, 2, 4)
    assert (i.garp.master_delay, i.garp.master_repeat, i.garp.lower_prio_repeat) == (5.0, 5, 5)
    assert i.down_timer_adverts == 3 and not i.nopreempt and i.accept is None
    assert config.usable and not config.diagnostics


def test_state_master_without_priority_is_owner_as_in_keepalived():
    config, i = inst(" state MASTER")
    assert i.priority == 255
    assert any("priority 255" in m for m in messages(config, "warning"))


def test_vip_options():
    _, i = inst("", vips="192.0.2.10/24 dev eth1 brd + scope global label eth1:v no_track noprefixroute\n"
                         " 192.0.2.11")
    a, b = i.virtual_ipaddress
    assert (a.dev, a.brd, a.scope, a.label, a.no_track, a.options) == (
        "eth1", "+", "global", "eth1:v", True, ("noprefixroute",))
    assert b.address == ipaddress.ip_interface("192.0.2.11/32")


def test_unknown_vip_option_and_mixed_family_warn_and_are_ignored():
    config, i = inst("", vips="192.0.2.10/24 bogus\n 2001:db8::1/64")
    assert len(i.virtual_ipaddress) == 1
    assert "Unknown configuration entry 'bogus' for ip address - ignoring" in messages(config)
    assert any("address family must match" in m for m in messages(config, "warning"))


def test_ipv6_instance_is_version_3():
    config, i = inst(" version 2", vips="2001:db8::1/64")
    assert (i.family, i.version) == (6, 3)
    assert config.usable


def test_out_of_range_values_keep_defaults_with_keepalived_wording():
    config, i = inst(" priority 256\n unicast_ttl 300")
    assert i.priority == 100 and i.unicast_ttl == 255
    assert "number '256' outside range [1, 255]" in messages(config, "warning")


def test_vrid_out_of_range_makes_the_config_unusable():
    config, _ = inst(" virtual_router_id 0")
    assert not config.usable
    assert "number '0' outside range [1, 255]" in messages(config, "error")
    config = loads("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 256\n}\n")
    assert not config.instances and any("virtual router id must be set" in m for m in messages(config, "error"))


def test_missing_interface_is_an_error():
    config = loads("vrrp_instance VI_1 {\n virtual_router_id 5\n virtual_ipaddress { 192.0.2.1 }\n}\n")
    assert not config.usable and not config.instances


def test_advert_int_v2_rounds_and_v3_clips():
    config, i = inst(" advert_int 2.4")
    assert i.advert_int == 2.0 and any("must be an integer" in m for m in messages(config))
    config, i = inst(" version 3\n advert_int 41")
    assert i.advert_int == 40.95 and any("40.95" in m for m in messages(config))
    config, i = inst(" advert_int 0.25", head="global_defs {\n vrrp_version 3\n}")
    assert (i.version, i.advert_int) == (3, 0.25) and not config.diagnostics


def test_vrrp_version_inside_instance_is_unknown_like_keepalived():
    config, i = inst(" vrrp_version 3\n advert_int 0.5")
    assert "Unknown keyword 'vrrp_version'" in messages(config, "warning")
    assert (i.version, i.advert_int) == (2, 1.0)


def test_trackers_weights_and_references():
    head = ("vrrp_script chk {\n script \"/bin/check 'a b'\"\n interval 2\n weight -20 reverse\n"
            " user nobody nogroup\n}\n"
            "vrrp_track_process haproxy {\n process haproxy\n delay 0.5\n quorum 2\n weight 10\n}\n"
            "track_file tf {\n file \"/run/x\"\n init_file 3 overwrite\n}\n")
    body = (" track_script {\n chk weight 30 noreverse\n missing\n }\n"
            " track_process {\n haproxy\n }\n track_file {\n tf weight -3 reverse\n }\n"
            " track_interface {\n eth1 weight 300\n eth2 weight -10\n }")
    config, i = inst(body, head=head)
    script = config.script("chk")
    assert script.argv == ("/bin/check", "a b") and script.interval == 2.0
    assert (script.weight, script.reverse, script.user, script.group) == (-20, True, "nobody", "nogroup")
    process = config.track_process("haproxy")
    assert (process.fork_delay, process.terminate_delay, process.quorum, process.weight) == (0.5, 0.5, 2, 10)
    tf = config.track_file("tf")
    assert (tf.file, tf.init_file, tf.init_file_overwrite) == ("/run/x", 3, True)
    assert [(r.name, r.weight, r.reverse) for r in i.track_script] == [("chk", 30, False)]
    assert [(r.name, r.weight) for r in i.track_process] == [("haproxy", None)]
    assert [(r.name, r.weight, r.reverse) for r in i.track_file] == [("tf", -3, True)]
    assert [(r.name, r.weight) for r in i.track_interface] == [("eth2", -10)]
    assert "(VI_1) track script missing not found, ignoring..." in messages(config, "warning")
    assert config.usable


def test_notify_scripts_with_user_and_group():
    config, i = inst(' notify_master "/bin/m.sh MASTER" alice staff\n notify /bin/n\n notify_deleted')
    assert (i.notify.master.argv, i.notify.master.user, i.notify.master.group) == (
        ("/bin/m.sh", "MASTER"), "alice", "staff")
    assert i.notify.generic.command == "/bin/n"
    assert i.notify.report_deleted and i.notify.deleted is None


def test_authentication_truncates_and_unicast_peers():
    config, i = inst(" authentication {\n auth_type PASS\n auth_pass 123456789\n }\n"
                     " unicast_src_ip 192.0.2.1\n unicast_peer {\n 192.0.2.2\n 192.0.2.3 min_ttl 200\n }")
    assert i.authentication.auth_pass == "12345678"
    assert [str(p) for p in i.unicast_peers] == ["192.0.2.2", "192.0.2.3"]
    assert i.is_unicast and i.check_unicast_src
    assert "Truncating auth_pass to 8 characters" in messages(config, "warning")
    assert not messages(config, "unsupported")  # min_ttl/max_ttl act (issue 19)
    assert [(str(p), lo, hi) for p, lo, hi in i.unicast_peer_ttl] == [("192.0.2.3", 200, 255)]


def test_global_defaults_flow_into_instances():
    head = ("global_defs {\n vrrp_garp_master_delay 10\n vrrp_garp_master_repeat 2\n"
            " vrrp_down_timer_adverts 5\n vrrp_notify_priority_changes\n control_socket /run/vk.sock\n"
            " metrics_listen 127.0.0.1:9650\n notification_email {\n a@example.com\n }\n}")
    config, i = inst(" garp_master_refresh 60", head=head)
    assert (i.garp.master_delay, i.garp.master_repeat, i.garp.lower_prio_delay, i.garp.master_refresh) == (
        10.0, 2, 10.0, 60.0)
    assert i.down_timer_adverts == 5 and i.notify.priority_changes
    assert config.global_defs.control_socket == "/run/vk.sock"
    assert config.global_defs.metrics_listen == "127.0.0.1:9650"
    assert config.global_defs.notification_email == ("a@example.com",)
    assert config.diagnostics == ()  # mail alerts are acted on now: nothing to name


def test_min_garp():
    config, i = inst("", head="global_defs {\n vrrp_min_garp true\n}")
    assert (i.garp.master_repeat, i.garp.master_delay) == (1, 0.0)


def test_refused_block_is_one_diagnostic_and_not_walked():
    text = ("virtual_server 192.0.2.1 80 {\n lb_algo rr\n real_server 192.0.2.2 80 {\n"
            " TCP_CHECK {\n connect_timeout 3\n }\n }\n}\n")
    config = loads(text, name="lvs.conf")
    assert [str(d) for d in config.diagnostics] == [
        ("lvs.conf:1: error: 'virtual_server' is not supported by vipkeeper (keepalived would configure IPVS "
         "load balancing; vipkeeper implements VRRP only, not LVS): vipkeeper refuses to run without it "
         "(to accept that: 'vipkeeper_run_without virtual_server' in global_defs)")]
    assert not config.usable
    config = loads("global_defs {\n vipkeeper_run_without virtual_server\n}\n" + text, name="lvs.conf")
    assert [(d.where.line, d.severity) for d in config.diagnostics] == [(4, "unsupported")]
    assert "running without it as vipkeeper_run_without at lvs.conf:2 allows" in config.diagnostics[0].message
    assert config.usable


def test_unknown_keyword_with_block_is_skipped_and_explained():
    config, i = inst(" foo_bar {\n state MASTER\n }\n priority 120")
    assert i.priority == 120 and i.state == "BACKUP"
    [message] = messages(config)
    assert message.startswith("Unknown keyword 'foo_bar'")


def test_sync_groups():
    text = ("vrrp_sync_group G {\n group {\n VI_1 VI_X\n VI_2\n }\n notify_master /bin/g\n}\n"
            + "".join(f"vrrp_instance VI_{n} {{\n interface eth0\n virtual_router_id {n}\n"
                      f" virtual_ipaddress {{ 192.0.2.{n} }}\n}}\n" for n in (1, 2, 3)))
    config = loads(text)
    [group] = config.sync_groups
    assert group.group == ("VI_1", "VI_2") and group.notify.master.command == "/bin/g"
    assert [i.sync_group for i in config.instances] == ["G", "G", None]
    assert ("Virtual router VI_X specified in sync group G doesn't exist - ignoring"
            in messages(config, "warning"))


def test_duplicate_names_and_vrids_are_errors():
    one = "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id {v}\n virtual_ipaddress {{ 192.0.2.{v} }}\n}}\n"
    config = loads(one.format(v=1) + one.format(v=2))
    assert not config.usable and any("already defined" in m for m in messages(config, "error"))
    config = loads(one.format(v=1) + one.format(v=1).replace("VI_1", "VI_2"))
    assert not config.usable and any("VRID 1 is already used" in m for m in messages(config, "error"))


def test_fast_handover_extension():
    _, i = inst(" fast_handover")
    assert i.fast_handover


def test_examples_are_a_clean_pair():
    one, two = (load(str(EXAMPLES / name)) for name in ("node1.conf", "node2.conf"))
    for config in (one, two):  # nothing named: router_id names the node in mail alerts
        assert config.usable and config.diagnostics == () and config.global_defs.router_id
    a, b = one.instances[0], two.instances[0]
    assert a.virtual_router_id == b.virtual_router_id and a.priority > b.priority
    assert a.unicast_src_ip in b.unicast_peers and b.unicast_src_ip in a.unicast_peers
    for address in (a.unicast_src_ip, b.unicast_src_ip, a.virtual_ipaddress[0].ip):
        assert address in ipaddress.ip_network("192.0.2.0/24")


def test_use_ipvlan_is_read_as_keepalived_reads_it():
    # keepalived 2.2.7's vrrp_ipvlan_handler: name, address and type in any order
    def instance(line: str, extra: str = ""):
        text = (f"vrrp_instance V {{\n interface eth0\n virtual_router_id 9\n priority 100\n {line}\n{extra}"
                " virtual_ipaddress { 192.0.2.9/24 }\n}\n")
        config = loads(text, name="t.conf", config_id="x")
        return config, config.instance("V")

    config, i = instance("use_ipvlan 192.0.2.11/24 vepa ipvl9")
    assert config.usable and not config.diagnostics
    assert (i.use_ipvlan, str(i.ipvlan_address), i.ipvlan_mode, i.vmac_interface) == (
        "ipvl9", "192.0.2.11/24", "vepa", "ipvl9")
    assert i.source_address == ipaddress.ip_address("192.0.2.11")  # keepalived's saddr from it
    _, i = instance("use_ipvlan 192.0.2.11/24")
    assert (i.use_ipvlan, i.ipvlan_mode, i.vmac_interface, i.use_vmac) == ("", "bridge", "vrrp.9", None)
    config, i = instance("use_ipvlan ipvl9 private bridge 192.0.2.11/24 192.0.2.12/24 other")
    assert [(d.where.line, d.message) for d in config.diagnostics] == [
        (5, "ipvlan type already specified - ignoring 'bridge'"),
        (5, "ipvlan address already specified - ignoring '192.0.2.12/24'"),
        (5, "IPVLAN interface already specified - ignoring 'other'")]
    assert (i.use_ipvlan, i.ipvlan_mode, str(i.ipvlan_address)) == ("ipvl9", "private", "192.0.2.11/24")
    # IPv4 without an address: keepalived keeps the instance in FAULT for ever; vipkeeper refuses
    config, _ = instance("use_ipvlan ipvl9")
    [error] = config.errors
    assert error.where.line == 5 and "IPv4 ipvlan requires a source ip address" in error.message
    config, _ = instance("use_ipvlan ipvl9 2001:db8::11/64")
    assert [d.message for d in config.diagnostics][0] == (
        "(V) ipvlan address[2001:db8::11/64] MUST match vrrp instance family !!! Skipping...")
    assert not config.usable
    config, i = instance("use_ipvlan ipvl9 192.0.2.11/24", " vmac_xmit_base\n")
    assert [(d.where.line, d.message) for d in config.diagnostics] == [
        (6, "(V) vmac_xmit_base is only valid with a vmac")]
    assert not i.vmac_xmit_base and i.socket_interface == "ipvl9"
    config, _ = instance("use_ipvlan ipvl9 192.0.2.11/24", " use_vmac\n")
    assert not config.usable and "use_vmac and use_ipvlan together" in config.errors[0].message


def test_vrf_is_cleared_where_keepalived_clears_it():
    def diagnostics(body: str):
        config = loads(f"vrrp_instance V {{\n{body} virtual_router_id 9\n"
                       " virtual_ipaddress { 192.0.2.9/24 dev eth0 }\n}\n", name="t.conf", config_id="x")
        return config, [(d.where.line, d.severity, d.message) for d in config.diagnostics]

    # keepalived 2.2.7 -t: "(t.conf: Line 3) (VI_1) Cannot specify VRF interface and interface - ignoring"
    config, found = diagnostics(" interface eth0\n vrf blue\n")
    assert found == [(3, "warning", "(V) Cannot specify VRF interface and interface - ignoring")] and config.usable
    config, found = diagnostics(" vrf blue\n interface eth0\n")
    assert found == [(2, "warning", "(V) vrf can only be specified without interface - clearing")] and config.usable
    _, found = diagnostics(" vrf blue\n")
    assert (2, "warning", "(V) vrf can only be specified with unicast - clearing") in found
    # the one case keepalived acts on: unicast without interface, which vipkeeper does not run
    config, found = diagnostics(" vrf blue\n unicast_src_ip 192.0.2.1\n unicast_peer {\n 192.0.2.2\n }\n")
    assert not config.usable and found[0][:2] == (2, "error")
    assert "vrf blue without interface" in found[0][2] and "enslaved to blue" in found[0][2]


def test_use_vmac_is_read_as_keepalived_reads_it():
    base = ("{g}vrrp_instance V {{\n interface eth0\n virtual_router_id 9\n priority 100\n{extra}"
            " virtual_ipaddress {{ 192.0.2.9/24 }}\n}}\n")
    config = loads(base.format(g="", extra=" use_vmac\n"))
    i = config.instances[0]
    assert config.usable and (i.vmac_interface, i.socket_interface, i.vmac_address) == ("vrrp.9", "vrrp.9", None)
    i = loads(base.format(g="", extra=" use_vmac vm9 02:00:5E:00:01\n vmac_xmit_base\n")).instances[0]
    assert (i.vmac_interface, i.socket_interface, i.vmac_address) == ("vm9", "eth0", "02:00:5e:00:01")
    config = loads(base.format(g="", extra=" use_vmac 01:00:5e:00:01:09\n"))
    assert any("multicast MAC" in d.message for d in config.diagnostics)
    # keepalived 2.2.7 -t's resets, measured
    config = loads(base.format(g="", extra=" use_vmac\n unicast_peer {\n 192.0.2.8\n }\n"))
    assert config.instances[0].vmac_xmit_base
    assert any("unicast with use_vmac requires vmac_xmit_base - setting" in d.message for d in config.diagnostics)
    config = loads(base.format(g="global_defs {\n vrrp_strict\n}\n", extra=" use_vmac vm 02:00:5e:00:01\n"
                                                                         " vmac_xmit_base\n"))
    i = config.instances[0]
    assert not i.vmac_xmit_base and i.vmac_address is None
    assert any("xmit_base is incompatible with strict mode - resetting" in d.message for d in config.diagnostics)
    # a VIP on another interface with its own use_vmac gets an address VMAC (config/vmac_addr.py)
    config = loads(base.format(g="", extra=" use_vmac\n virtual_ipaddress_excluded {\n 198.51.100.9/24 dev eth1 "
                                           "use_vmac\n }\n"))
    assert config.usable and config.instances[0].virtual_ipaddress_excluded[0].vmac == "vrrp1.9"


def test_values_read_as_keepalived_2_2_7_reads_them():
    # measured with keepalived -t: state and auth_type are case-sensitive
    config, i = inst(" state master")
    assert i.state == "BACKUP" and "unknown state 'master', defaulting to BACKUP" in messages(config, "warning")[0]
    config, i = inst(" authentication {\n auth_type pass\n auth_pass x\n }")
    assert i.authentication is None
    assert any("unknown authentication type 'pass'" in m for m in messages(config, "warning"))
    # a prefix too long is clamped, a label too long drops the address
    config, i = inst("", vips="192.0.2.10/33")
    assert str(i.virtual_ipaddress[0].address) == "192.0.2.10/32"
    config, i = inst("", vips="192.0.2.10/24 label eth0:averyverylonglabel")
    assert i.virtual_ipaddress == ()
    assert any("longer than maximum length 15 - removing address" in m for m in messages(config, "warning"))
    # the family is that of the first address in the file: here the IPv6 unicast source
    config, i = inst(" unicast_src_ip 2001:db8::1\n unicast_peer {\n 2001:db8::2\n }")
    assert i.family == 6 and i.virtual_ipaddress == ()
    assert any("address family must match VRRP instance [192.0.2.10/24]" in m for m in messages(config, "warning"))
    text = ("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 192.0.2.10/24\n }\n"
            " unicast_src_ip 2001:db8::1\n}\n")
    config = loads(text)
    assert config.instances[0].family == 4 and len(config.instances[0].virtual_ipaddress) == 1


def test_strict_mode_resets_what_keepalived_resets():
    # measured with keepalived 2.2.7 -t; authentication matters on the wire: strict adverts carry none
    config, i = inst(" authentication {\n auth_type PASS\n auth_pass x\n }\n preempt_delay 5\n accept",
                     head="global_defs {\n vrrp_strict\n}")
    assert i.authentication is None and i.preempt_delay == 0.0 and i.accept is False
    assert sorted(messages(config, "warning")) == [
        "(VI_1) Strict mode does not support authentication. Ignoring.",
        "(VI_1) preempt_delay is incompatible with strict mode - resetting",
        "(VI_1) warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting"]
    config, i = inst(" authentication {\n auth_type PASS\n auth_pass x\n }\n preempt_delay 5\n accept")
    assert i.authentication is not None and i.preempt_delay == 5.0 and i.accept is True
