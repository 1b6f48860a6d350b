"""The keyword table says, for every keyword vipkeeper does not act on, what keepalived would have
done; `check` names each at its line; features whose absence changes the wire or who holds a VIP
are refused unless `vipkeeper_run_without` names them."""

from __future__ import annotations

from click.testing import CliRunner

from vipkeeper.config import keywords as kw
from vipkeeper.config import loads
from vipkeeper.config.cli import check


def test_every_row_not_acted_on_says_what_keepalived_would_do():
    rows = kw.support_table()
    assert len(rows) > 90  # fewer as keywords come to act (98 after issue 19's garp and track groups)
    for block, name, status, note, opt_out in rows:
        assert status in ("ignored", "unsupported", "refused"), (block, name)
        assert note and not note.endswith("."), (block, name)
        assert (status == "refused") == bool(opt_out), (block, name)
    refused = {name for _, name, status, _, _ in rows if status == "refused"}
    assert {"virtual_server", "net_namespace", "track_bfd"} <= refused
    # acted on (net/routes.py, net/vmac.py): not in the table at all
    assert not {"virtual_routes", "virtual_rules", "static_routes", "static_rules", "static_ipaddress", "use_vmac",
                "vmac_xmit_base", "use_vmac_addr", "use_ipvlan", "vrf", "track_group", "garp_group", "vrrp_garp_extra_if",
                "garp_extra_if"} & named_all(rows)
    named = {name for _, name, _, _, _ in rows}
    # the keywords issue 15 found dropped without a word (dynamic_interfaces is acted on: an
    # instance whose interface is missing waits for it in FAULT; tests/net/test_missing_interface.py)
    assert {"enable_snmp_vrrp", "enable_snmp_rfc", "enable_dbus"} <= named
    assert "dynamic_interfaces" not in named
    # acted on since issue 19: mail alerts, firewall rules, process tuning, start-up/shutdown scripts
    acted = {"notification_email", "notification_email_from", "smtp_server", "smtp_helo_name",
             "smtp_connect_timeout", "smtp_alert", "smtp_alert_vrrp", "no_email_faults", "router_id", "nftables",
             "vrrp_iptables", "nftables_priority", "nftables_counters", "vrrp_rt_priority", "vrrp_priority",
             "vrrp_no_swap", "vrrp_cpu_affinity", "vrrp_rlimit_rttime", "startup_script", "shutdown_script",
             "startup_script_timeout", "shutdown_script_timeout"}
    assert not acted & named
    assert all(kw.GLOBAL_DEFS[name].status == "ok" for name in acted)


def named_all(rows):
    return {name for _, name, _, _, _ in rows}


def test_each_refusable_feature_is_an_error_then_accepted_by_name():
    body = ("vrrp_instance V {{\n interface eth0\n virtual_router_id 9\n{extra}"
            " virtual_ipaddress {{ 192.0.2.9/24 }}\n}}\n")
    cases = {"track_bfd": " track_bfd {\n b\n }\n",
             "old_unicast_checksum": " old_unicast_checksum\n"}
    for feature, extra in cases.items():
        config = loads(body.format(extra=extra))
        [error] = [d for d in config.diagnostics if d.severity == "error"]
        assert error.where.line == 4 and f"'{kw.RUN_WITHOUT} {feature}' in global_defs" in error.message
        config = loads(f"global_defs {{\n {kw.RUN_WITHOUT} {feature}\n}}\n" + body.format(extra=extra))
        assert config.usable, config.diagnostics
        assert [d.severity for d in config.diagnostics if feature in d.message] == ["unsupported"]
    for top, feature in ():
        config = loads(top + body.format(extra=""))
        assert not config.usable and f"'{kw.RUN_WITHOUT} {feature}'" in config.errors[0].message


def test_run_without_names_only_refusable_features_and_ah_is_never_accepted():
    config = loads(f"global_defs {{\n {kw.RUN_WITHOUT} track_bfd smtp_alert auth_type\n}}\n")
    warnings = [d for d in config.diagnostics if d.severity == "warning"]
    assert [d.where.line for d in warnings] == [2, 2]
    assert "'smtp_alert' is not a feature vipkeeper refuses" in warnings[0].message
    assert "'auth_type' is not a feature vipkeeper refuses" in warnings[1].message
    assert config.global_defs.run_without == ("track_bfd", "smtp_alert", "auth_type")  # as written
    ah = ("vrrp_instance V {\n interface eth0\n virtual_router_id 9\n authentication {\n auth_type AH\n"
          " auth_pass x\n }\n virtual_ipaddress { 192.0.2.9/24 }\n}\n")
    config = loads(ah)
    [error] = config.errors
    assert error.where.line == 5 and "an AH peer rejects every advert" in error.message


def test_exit_status_mirrors_keepalived(tmp_path):
    path = tmp_path / "k.conf"
    base = "vrrp_instance V {\n interface lo\n virtual_router_id 9\n%s virtual_ipaddress { 192.0.2.9/24 }\n}\n"

    def status(extra: str, *options: str) -> int:
        path.write_text(base % extra)
        return CliRunner().invoke(check, ["-f", str(path), *options]).exit_code

    assert status("") == 0
    assert status(" enable_snmp_vrrp_typo\n") == 5  # a misspelt keyword: keepalived -t exits 5
    assert status(" priority 256\n") == 5
    assert status(" old_unicast_checksum\n") == 1  # vipkeeper would not run it
    assert status(' notify_master "/bin/sh -c true"\n') == 6  # keepalived -t: SECURITY VIOLATION
    assert status(' notify_master "/bin/sh -c true"\n priorty 1\n') == 6  # 6 wins over 5, as in keepalived
    assert status(' notify_master "/bin/sh -c true"\n', "--no-host") == 0
    path.write_text((base % "").replace("interface lo", "interface vk-no-such0"))
    assert CliRunner().invoke(check, ["-f", str(path)]).exit_code == 5
    assert CliRunner().invoke(check, ["-f", str(path), "--no-host"]).exit_code == 0


def test_a_misspelt_keyword_names_the_one_meant():
    config = loads("global_defs {\n router_idd x\n}\nvrrp_instnce VI_1 {\n}\nvrrp_instance VI_1 {\n"
                   " interface eth0\n virtual_router_id 9\n priorty 150\n vrrp_version 3\n"
                   " virtual_ipaddress { 192.0.2.9/24 }\n}\n")
    assert [(d.where.line, d.message.split(" - ")[0]) for d in config.diagnostics if d.severity == "warning"] == [
        (2, "Unknown keyword 'router_idd' (did you mean 'router_id'?)"),
        (4, "Unknown keyword 'vrrp_instnce' (did you mean 'vrrp_instance'?)"),
        (9, "Unknown keyword 'priorty' (did you mean 'priority'?)"),
        (10, "Unknown keyword 'vrrp_version'"),  # a global keyword in an instance: no near miss here
    ]
