"""Finding 9 of issue 20: `auth_type AH` ran with the secret in clear and verified nothing.

Now it is a configuration error, in `check` and in `run`, one line naming FILE:LINE; PASS is
compared in constant time.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

from click.testing import CliRunner

from vipkeeper.config import loads
from vipkeeper.config.cli import check
from vipkeeper.vrrp.instance import AdvertReceived, Instance, InstanceParams, Startup, State
from vipkeeper.vrrp.packet import AUTH_PASS, Advertisement, pad_auth

AH_CONF = """vrrp_instance VI_1 {
    interface lo
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type AH
        auth_pass secret12
    }
    virtual_ipaddress {
        192.0.2.10/24
    }
}
"""


def test_ah_is_a_config_error_naming_the_line():
    config = loads(AH_CONF, name="k.conf")
    assert not config.usable
    errors = [str(d) for d in config.errors]
    assert errors == ["k.conf:7: error: (VI_1) auth_type AH is not implemented (vipkeeper would send the "
                      "secret in clear and verify nothing, and an AH peer rejects every advert vipkeeper "
                      "sends, so both nodes would become Master): use auth_type PASS or none on every node"]


def test_check_refuses_ah_with_one_line(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text(AH_CONF)
    result = CliRunner().invoke(check, ["-f", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "AH" in line]
    assert len(lines) == 1 and lines[0].startswith(f"{path}:7: error: (VI_1) auth_type AH is not implemented")


def test_run_refuses_ah_without_traceback(tmp_path):
    assert os.geteuid() == 0, "vipkeeper run needs root"
    path = tmp_path / "k.conf"
    path.write_text(AH_CONF)
    proc = subprocess.run([sys.executable, "-m", "vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(path),
                           "-p", str(tmp_path / "pid"), "--control-socket", str(tmp_path / "ctl")],
                          capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Traceback" not in out
    assert f"{path}:7: error: (VI_1) auth_type AH is not implemented" in out
    assert "configuration has errors, not starting" in out


def _params(**kw):
    return InstanceParams(name="VI_1", vrid=51, priority=100, source_address=ipaddress.ip_address("192.0.2.1"),
                          auth_type=AUTH_PASS, auth_data=b"secret12", **kw)


def test_pass_still_accepted_and_wrong_pass_dropped():
    core = Instance(_params())
    core.handle(Startup(), 0.0)
    assert core.state == State.BACKUP
    good = Advertisement(2, 51, 200, (), 100, AUTH_PASS, pad_auth(b"secret12"))
    bad = Advertisement(2, 51, 200, (), 100, AUTH_PASS, pad_auth(b"secret13"))
    src = ipaddress.ip_address("192.0.2.2")
    out = core.handle(AdvertReceived(bad, src), 0.1)
    assert any(getattr(a, "reason", None) is not None and a.reason.value == "auth_mismatch" for a in out)
    out = core.handle(AdvertReceived(good, src), 0.2)
    assert not any(hasattr(a, "reason") for a in out)
    assert core.master_priority == 200


def test_pass_compare_is_constant_time():
    import inspect

    from vipkeeper.vrrp import instance

    assert "not compare_digest(adv.auth_data, pad_auth(p.auth_data))" in inspect.getsource(instance.Instance._check)
    # hmac.compare_digest's C fallback (what hmac uses without OpenSSL), not a plain ==
    import _operator

    assert instance.compare_digest is _operator._compare_digest
