"""`vipkeeper check`: output format, JSON and exit status; never a traceback."""

from __future__ import annotations

import json

from click.testing import CliRunner

from vipkeeper.config.cli import check

GOOD = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n bogus 1\n virtual_ipaddress { 192.0.2.5/24 }\n}\n"


def run(*args):
    return CliRunner().invoke(check, list(args))


def test_warnings_exit_5_like_keepalived_with_file_line_and_summary(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text(GOOD)
    result = run("-f", str(path), "--no-host")
    assert result.exit_code == 5
    lines = result.output.splitlines()
    assert lines[0] == f"{path}:4: warning: Unknown keyword 'bogus'"
    assert lines[-1] == (f"{path}: 1 instances, 0 sync groups, 0 errors, 1 warnings, 0 unsupported, "
                         "0 ignored: usable")
    path.write_text(GOOD.replace(" bogus 1\n", " debug\n track_src_ip\n"))
    result = run("-f", str(path), "--no-host")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        f"{path}:4: ignored: 'debug' ignored by vipkeeper (keepalived would log more detail about this instance)",
        (f"{path}:5: unsupported: 'track_src_ip' is not supported by vipkeeper (keepalived would put the "
         "instance in FAULT while its source address is missing)")]


def test_errors_exit_1(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text(GOOD.replace("virtual_router_id 5", "virtual_router_id 500"))
    result = run("-f", str(path))
    assert result.exit_code == 1 and "NOT usable" in result.output


def test_unreadable_is_one_line_exit_1(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text("vrrp_instance VI_1 {\n")
    result = run("-f", str(path))
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "never closed" in result.output
    assert "Traceback" not in result.output
    result = run("-f", str(tmp_path / "missing.conf"))
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_json_model_and_config_id(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text(GOOD.replace(" interface eth0", " @a interface eth0\n @^a interface eth1"))
    document = json.loads(run("-f", str(path), "-i", "a", "--json").output)
    assert document["usable"] is True
    instance = document["config"]["instances"][0]
    assert instance["interface"] == "eth0"
    assert instance["virtual_ipaddress"][0]["address"] == "192.0.2.5/24"
    assert document["config"]["diagnostics"][0]["where"] == {"file": str(path), "line": 5}
    document = json.loads(run("-f", str(path), "-i", "b", "--json").output)
    assert document["config"]["instances"][0]["interface"] == "eth1"


def test_json_model_with_routes_and_rules(tmp_path):
    """Route and rule networks are strings in the JSON model, as addresses are (they were a
    TypeError traceback: keepalived's own keepalived.conf.vrrp.routes sample showed it)."""
    path = tmp_path / "k.conf"
    path.write_text(GOOD.replace(" virtual_router_id 5\n", " virtual_router_id 5\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.1 dev eth0\n }\n"
                                              " virtual_rules {\n  from 2001:db8::/64 table 100\n }\n")
                    + "static_routes {\n 192.0.2.128/25 dev eth0\n}\n")
    result = run("-f", str(path), "--no-host", "--json")
    assert result.exit_code == 5 and "Traceback" not in result.output, result.output  # 5: GOOD's warning
    config = json.loads(result.output)["config"]
    instance = config["instances"][0]
    assert instance["virtual_routes"][0]["dst"] == "198.51.100.0/24" and instance["virtual_routes"][0]["via"] == "192.0.2.1"
    assert instance["virtual_rules"][0]["src"] == "2001:db8::/64"
    assert config["static_routes"][0]["dst"] == "192.0.2.128/25"
