"""The witness in keepalived's language: `vipkeeper_witness NAME { ... }` and `witness NAME`."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from click.testing import CliRunner

from vipkeeper.config import loads
from vipkeeper.config.cli import check
from vipkeeper.witness.explain import guarded, key_for

WITNESS = """
vipkeeper_witness etcd {
  endpoints http://192.0.2.11:2379 https://192.0.2.12:2379
  cacert /etc/vipkeeper/ca.pem
  cert /etc/vipkeeper/lb1.pem
  key /etc/vipkeeper/lb1.key
  prefix /lb/
  lease_ttl 2
  lease_margin 0.25
  policy FAIL_OPEN
}
"""


def instance(name: str, vrid: int, extra: str = "") -> str:
    return (f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n{extra}\n"
            f" virtual_ipaddress {{\n 192.0.2.{vrid}/24\n }}\n}}\n")


def errors(config) -> list[str]:
    return [f"{d.where.line}: {d.message}" for d in config.diagnostics if d.severity == "error"]


def test_block_reads_every_field() -> None:
    config = loads(WITNESS + instance("VI_1", 51, " witness etcd"), name="t.conf")
    assert errors(config) == [] and config.usable
    w = config.witness("etcd")
    assert w is not None
    assert w.endpoints == ("http://192.0.2.11:2379", "https://192.0.2.12:2379")
    assert (w.cacert, w.cert, w.key) == ("/etc/vipkeeper/ca.pem", "/etc/vipkeeper/lb1.pem", "/etc/vipkeeper/lb1.key")
    assert (w.prefix, w.lease_ttl, w.lease_margin, w.policy) == ("/lb", 2, 0.25, "fail_open")
    assert w.request_timeout == pytest.approx(2 / 3)
    assert config.instances[0].witness == "etcd"
    assert [(k, n, key_for(x, k, n)) for k, n, x in guarded(config)] == [("instance", "VI_1", "/lb/instance/VI_1")]


def test_a_sync_group_claims_one_key_for_its_members() -> None:
    text = (WITNESS + instance("VI_1", 51) + instance("VI_2", 52)
            + "vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n witness etcd\n}\n")
    config = loads(text, name="t.conf")
    assert errors(config) == []
    assert [(k, n) for k, n, _ in guarded(config)] == [("sync_group", "G")]


def test_mistakes_are_errors_with_their_line() -> None:
    config = loads(instance("VI_1", 51, " witness nosuch"), name="t.conf")
    assert errors(config) == ["1: vrrp_instance VI_1: witness nosuch is not a defined vipkeeper_witness"]
    assert not config.usable
    bad = WITNESS.replace("policy FAIL_OPEN", "policy maybe").replace("http://192.0.2.11:2379", "192.0.2.11")
    config = loads(bad + instance("VI_1", 51, " witness etcd"), name="t.conf")
    assert "3: etcd endpoint '192.0.2.11' is not http(s)://HOST:PORT" in errors(config)
    assert "10: 'policy' must be fail_closed or fail_open, not 'maybe'" in errors(config)
    config = loads(WITNESS.replace("lease_margin 0.25", "lease_margin 1.5") + instance("VI_1", 51), name="t.conf")
    assert any("leaves no time to renew" in e for e in errors(config))
    config = loads(WITNESS.replace("  key /etc/vipkeeper/lb1.key\n", ""), name="t.conf")
    assert any("cert and key go together" in e for e in errors(config))
    grouped = (WITNESS + instance("VI_1", 51, " witness etcd") + instance("VI_2", 52)
               + "vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n}\n")
    assert any("set 'witness' on the sync group" in e for e in errors(loads(grouped, name="t.conf")))


def test_check_explains_the_witness_and_names_keepalived_unknown_keywords(tmp_path) -> None:
    path = tmp_path / "k.conf"
    path.write_text(WITNESS.replace("policy FAIL_OPEN", "policy fail_closed") + instance("VI_1", 51, " witness etcd"))
    result = CliRunner().invoke(check, ["-f", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "instance VI_1 holds its VIPs only while it holds etcd key /lb/instance/VI_1 under a 2 s lease" in out
    assert "they go 1.748 s after the last renewal was sent" in out
    assert "fail_closed: no VIP while etcd cannot be reached (FAULT)" in out
    assert "keepalived -t reports them as unknown keywords" in out


@pytest.mark.skipif(shutil.which("/usr/sbin/keepalived") is None, reason="keepalived 2.2.7 not installed")
def test_keepalived_calls_the_extension_unknown_and_still_reads_the_instance(tmp_path) -> None:
    """What the README says keepalived -t does with a witness config, measured."""
    path = tmp_path / "k.conf"
    path.write_text(WITNESS + instance("VI_1", 51, " witness etcd"))
    done = subprocess.run(["/usr/sbin/keepalived", "-t", "-f", str(path), "-l"], capture_output=True,
                          text=True, timeout=30, check=False)
    out = done.stdout + done.stderr
    assert "Unknown keyword 'vipkeeper_witness'" in out
    assert "Unknown keyword 'witness'" in out
    assert "Unknown keyword 'lease_ttl'" in out
    # the instance itself is read: no complaint about its other keywords
    assert "virtual_router_id" not in out and "virtual_ipaddress" not in out


def test_run_without_aiohttp_says_which_extra_in_one_line(tmp_path) -> None:
    """`vipkeeper run` on a witness config with aiohttp unimportable: one line, exit 1, nothing
    started (the check happens while reading the file, before any socket or VIP)."""
    import sys

    path = tmp_path / "k.conf"
    path.write_text(WITNESS + instance("VI_1", 51, " witness etcd"))
    code = ("import sys; sys.modules['aiohttp'] = None; sys.argv[0] = 'vipkeeper'; "
            "from vipkeeper.cli import entry; entry()")
    done = subprocess.run([sys.executable, "-c", code, "run", "-n", "-l", "--no-syslog", "-f", str(path),
                           "-p", str(tmp_path / "pid"), "--control-socket", str(tmp_path / "ctl")],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "needs the 'witness' extra" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
