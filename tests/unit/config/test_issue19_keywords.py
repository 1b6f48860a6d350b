"""The keywords issue 19 made act, read as keepalived 2.2.7 reads them: values, defaults,
clamping and its warnings."""

from __future__ import annotations

from vipkeeper.config import loads


def g(text: str):  # type: ignore[no-untyped-def]
    config = loads("global_defs {\n" + text + "\n}\n")
    return config.global_defs, [(d.severity, d.message) for d in config.diagnostics]


def test_mail_keywords_and_defaults():
    defs, diags = g(" notification_email {\n  a@example.com b@example.com\n  c@example.com\n }\n"
                    " notification_email_from k@example.com\n smtp_server 192.0.2.9 2525\n smtp_helo_name h\n"
                    " smtp_connect_timeout 7\n smtp_alert_vrrp off\n no_email_faults")
    assert diags == []
    assert defs.notification_email == ("a@example.com", "b@example.com", "c@example.com")
    assert (defs.notification_email_from, defs.smtp_server, defs.smtp_helo_name) == ("k@example.com",
                                                                                       ("192.0.2.9", 2525), "h")
    assert (defs.smtp_connect_timeout, defs.smtp_alert_vrrp, defs.no_email_faults) == (7.0, False, True)
    defs, diags = g(" smtp_server mail.example.com\n smtp_connect_timeout 0")
    assert defs.smtp_server == ("mail.example.com", 25) and defs.smtp_connect_timeout == 1.0
    assert diags == [("warning", "smtp_conect_timeout must be greater than 0, setting to 1")]  # keepalived's typo


def test_smtp_alert_resolution_instance_then_vrrp_then_global():
    def alert(globals_: str, inst: str) -> bool:
        text = (f"global_defs {{\n{globals_}\n}}\nvrrp_instance V {{\n interface eth0\n virtual_router_id 9\n{inst}\n"
                " virtual_ipaddress {\n 192.0.2.9/24\n }\n}\n")
        return loads(text).instances[0].smtp_alert

    assert not alert("", "")
    assert alert(" smtp_alert", "")
    assert not alert(" smtp_alert\n smtp_alert_vrrp false", "")
    assert alert(" smtp_alert false", " smtp_alert")
    assert not alert(" smtp_alert_vrrp", " smtp_alert no")


def test_firewall_keywords():
    defs, diags = g(" vrrp_iptables")
    assert defs.nftables == "keepalived" and diags == [(
        "warning", ("iptables not supported, using nftables instead. Please replace 'vrrp_iptables and "
                    "'vrrp_ipsets' with 'nftables' config option"))]
    defs, diags = g(" nftables mytable\n nftables_priority -10\n nftables_counters")
    assert (defs.nftables, defs.nftables_priority, defs.nftables_counters, diags) == ("mytable", -10, True, [])


def test_tuning_keywords_clamped_as_keepalived():
    defs, diags = g(" vrrp_rt_priority 150\n vrrp_priority -25\n vrrp_cpu_affinity 0 1\n vrrp_rlimit_rttime 1\n"
                    " vrrp_no_swap")
    assert defs.vrrp_rt_priority == 99 and defs.vrrp_cpu_affinity == (0, 1) and defs.vrrp_rlimit_rttime == 2
    assert defs.vrrp_priority is None and defs.vrrp_no_swap
    assert ("warning", "vrrp process real-time priority 150 greater than maximum 99 - setting to maximum") in diags
    assert any("-25" in m and "outside range [-20, 19]" in m for _, m in diags)
    defs, _ = g(" vrrp_rlimit_rtime 30000")  # the deprecated spelling
    assert defs.vrrp_rlimit_rttime == 30000 and g("")[0].vrrp_rlimit_rttime == 10000


def test_startup_shutdown_scripts_and_timeouts():
    defs, diags = g(' startup_script "/bin/echo up" nobody\n shutdown_script /bin/true\n startup_script_timeout 3\n'
                    " shutdown_script_timeout 2000")
    assert defs.startup_script.argv == ("/bin/echo", "up") and defs.startup_script.user == "nobody"
    assert (defs.startup_script_timeout, defs.shutdown_script_timeout) == (3.0, 10.0)
    assert diags == [("warning", "shutdown_script_timeout '2000' must be in [1, 1000] - ignoring")]


def test_umask_and_log_unknown_vrids():
    assert g(" umask 027\n log_unknown_vrids")[0].umask == 0o27
    assert g(" umask IWGRP|IWOTH")[0].umask == 0o22
    assert g(" umask 0x12")[0].umask == 0o22
    assert g(" umask IBOGUS")[1] == [("warning", "Unknown umask bit IBOGUS")]
    assert g(" log_unknown_vrids")[0].log_unknown_vrids


def test_interface_up_down_delays():
    from vipkeeper.config import loads as load_text

    config = load_text("interface_up_down_delays {\n eth0 2\n eth1 0.00001 3\n eth2 x\n eth3 300\n}\n")
    assert config.interface_up_down_delays == (("eth0", 2.0, 2.0), ("eth1", 0.00001, 3.0))
    assert [d.where.line for d in config.diagnostics] == [4, 5]
    assert all(d.severity == "warning" for d in config.diagnostics)
