"""Semantic checks added for issue 20 #11 and issue 15 (check errors with FILE:LINE)."""

from __future__ import annotations

import subprocess
import sys

from vipkeeper.config import loads


def _unicast(name: str, vrid: int, src: str | None, peer: str, iface: str = "eth0") -> str:
    src_line = f"  unicast_src_ip {src}\n" if src else ""
    return (f"vrrp_instance {name} {{\n  interface {iface}\n  virtual_router_id {vrid}\n  priority 100\n"
            f"{src_line}  unicast_peer {{ {peer} }}\n  virtual_ipaddress {{ 192.0.2.{vrid}/24 }}\n}}\n")


def errors(text: str) -> list[str]:
    config = loads(text, name="k.conf")
    return [str(d) for d in config.diagnostics if d.severity == "error"]


def test_two_unicast_instances_with_same_vrid_interface_and_source_are_an_error():
    text = _unicast("A", 60, "192.0.2.1", "192.0.2.2") + _unicast("B", 60, "192.0.2.1", "192.0.2.3")
    errs = errors(text)
    assert len(errs) == 1
    assert errs[0].startswith("k.conf:9: error: (B) VRID 60 is already used by A (k.conf:1)")
    assert "never hear its peer" in errs[0]


def test_unicast_without_source_on_both_is_the_same_source():
    assert len(errors(_unicast("A", 61, None, "192.0.2.2") + _unicast("B", 61, None, "192.0.2.3"))) == 1


def test_unicast_instances_that_differ_in_source_vrid_or_interface_are_fine():
    assert errors(_unicast("A", 62, "192.0.2.1", "192.0.2.2") + _unicast("B", 62, "192.0.2.4", "192.0.2.3")) == []
    assert errors(_unicast("A", 63, "192.0.2.1", "192.0.2.2") + _unicast("B", 64, "192.0.2.1", "192.0.2.3")) == []
    assert errors(_unicast("A", 65, None, "192.0.2.2") + _unicast("B", 65, None, "192.0.2.3", "eth1")) == []


def _with_metrics(listen: str) -> str:
    return (f"global_defs {{\n  metrics_listen {listen}\n}}\n"
            "vrrp_instance V {\n  interface eth0\n  virtual_router_id 1\n  priority 100\n"
            "  virtual_ipaddress { 192.0.2.1 }\n}\n")


def test_metrics_listen_forms():
    for good in (":9650", "[::]:9650", "127.0.0.1:9650", "[::1]:9650", "localhost:9650"):
        assert errors(_with_metrics(good)) == [], good
    for bad in ("9650", "1.2.3:9650", "::1:9650", "127.0.0.1:70000"):
        errs = errors(_with_metrics(bad))
        assert len(errs) == 1 and errs[0].startswith("k.conf:2: error: "), (bad, errs)


def test_check_fails_on_a_bad_metrics_listen(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text(_with_metrics("127.0.0.1:x"))
    out = subprocess.run([sys.executable, "-m", "vipkeeper", "check", "-f", str(path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1
    assert out.stdout.splitlines()[0].startswith(f"{path}:2: error: '127.0.0.1:x': port must be")


def test_run_refuses_a_bad_metrics_option_in_one_line(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text(_with_metrics(":9650"))
    out = subprocess.run([sys.executable, "-m", "vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(path),
                          "-p", str(tmp_path / "k.pid"), "--metrics", "nowhere:9650"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--metrics" in lines[0] and "nowhere" in lines[0], lines
