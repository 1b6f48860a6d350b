"""Script users are resolved with the configuration, never at failover (issue 20 #11).

The tripwire: once the table is built, resolve_identity (the NSS lookup: pwd/grp, maybe LDAP)
is made to fail; every credential the daemon asks for when an instance changes state must still
come from the table."""

from __future__ import annotations

import pytest

from vipkeeper import script_launch, script_users
from vipkeeper.config import loads
from vipkeeper.daemon import tracking
from vipkeeper.notify import scripts as notify_scripts
from vipkeeper.notify.scripts import NotifyRunner
from vipkeeper.script_users import ScriptUsers, _commands

CONF = """
global_defs {
  script_user nobody
  notify_fifo /run/vk-test.fifo
  notify_fifo_script /bin/true root
}
vrrp_script chk {
  script "/bin/true"
  user daemon
}
vrrp_sync_group G {
  group { VI_1 }
  notify_master "/bin/true group" root root
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  track_script { chk }
  notify_master "/bin/true m"
  notify_backup "/bin/true b" daemon
  notify /bin/true
  notify_fault "/bin/true f" no_such_user_vk
  virtual_ipaddress { 192.0.2.1/24 }
}
"""


def _tripwire(*args, **kwargs):
    raise AssertionError(f"NSS lookup at failover: resolve_identity{args}")


def test_every_script_user_is_resolved_up_front(monkeypatch):
    config = loads(CONF)
    users = ScriptUsers.of_config(config)
    g = config.global_defs
    commands = _commands(config)
    assert len(commands) >= 6
    for fn_owner in (script_launch, script_users, notify_scripts, tracking):
        if hasattr(fn_owner, "resolve_identity"):
            monkeypatch.setattr(fn_owner, "resolve_identity", _tripwire)
    runner = NotifyRunner(default_user=g.script_user, default_group=g.script_group)
    runner.users = users
    resolved = {}
    for command in commands:
        try:
            resolved[command.command] = runner.credentials(command).name
        except LookupError as exc:
            resolved[command.command] = f"unknown: {exc}"
    assert resolved["/bin/true m"] == "nobody"
    assert resolved["/bin/true b"] == "daemon"
    assert resolved["/bin/true group"] == "root"
    assert resolved["/bin/true f"].startswith("unknown:") and "no_such_user_vk" in resolved["/bin/true f"]
    spec = config.script("chk")
    verdict = tracking._vet(spec, g, quiet=True, users=users)
    assert verdict.identity is not None and verdict.identity.name == "daemon"


def test_a_key_not_in_the_table_is_looked_up_once():
    users = ScriptUsers()
    first = users.resolve("root", None)
    assert first.uid == 0 and users.keys() == {("root", None, None, None, False)}
    with pytest.raises(LookupError):
        users.resolve("no_such_user_vk", None)
