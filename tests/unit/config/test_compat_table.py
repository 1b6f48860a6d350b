"""The README's compatibility table is the one config/keywords.py makes (regenerate it with
`python3 -m vipkeeper.config.compat_table README.md`), and it says what issue 19 made act."""

from __future__ import annotations

from pathlib import Path

from vipkeeper.config import compat_table

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_table_is_generated_from_the_keyword_tables():
    text = README.read_text()
    assert compat_table.splice(text) == text, "README table drifted: run python3 -m vipkeeper.config.compat_table README.md"


def test_table_covers_every_keyword_and_the_issue_19_features():
    rows = {(block, name): status for block, name, status, _ in compat_table.rows()}
    for name in ("notification_email", "smtp_server", "smtp_alert", "nftables", "vrrp_iptables", "vrrp_rt_priority",
                 "vrrp_no_swap", "vrrp_cpu_affinity", "vrrp_rlimit_rttime", "startup_script", "shutdown_script"):
        assert rows[("global_defs", name)] == "acts", name
    assert rows[("vrrp_instance", "smtp_alert")] == "acts"
    for name in ("use_vmac", "vmac_xmit_base", "virtual_routes", "virtual_rules"):
        assert rows[("vrrp_instance", name)] == "acts", name
    for name in ("static_ipaddress", "static_routes", "static_rules"):
        assert rows[("top level", name)] == "acts", name
    for name in ("use_ipvlan", "vrf"):
        assert rows[("vrrp_instance", name)] == "acts", name
    assert rows[("top level", "track_group")] == "acts"
    assert rows[("vrrp_instance", "use_vmac_addr")] == "acts"
    assert rows[("top level", "virtual_server")] == "refused"
    assert rows[("global_defs", "control_socket")] == "vipkeeper's own"


def test_drift_is_noticed():
    text = README.read_text()
    broken = text.replace("| global_defs | `smtp_server` | acts |", "| global_defs | `smtp_server` | unsupported |")
    assert broken != text and compat_table.splice(broken) != broken
