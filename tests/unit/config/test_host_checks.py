"""Host checks (what keepalived -t looks at beyond the file), on a described host: the lines they
name, keepalived's wording, and which scripts count toward the SECURITY VIOLATION."""

from __future__ import annotations

from dataclasses import dataclass, field

from vipkeeper.config import LocalHost, loads
from vipkeeper.config.host_checks import SECURITY_VIOLATION
from vipkeeper.config.lexer import lex_text
from vipkeeper.config.parser import parse


@dataclass
class FakeHost:
    interfaces: set[str] = field(default_factory=lambda: {"eth0", "eth1"})
    files: dict[str, bool] = field(default_factory=dict)  # path -> executable

    def interface_exists(self, name: str) -> bool:
        return name in self.interfaces

    def script_file(self, command: str) -> tuple[str, bool] | None:
        path = command if "/" in command else f"/usr/bin/{command}"
        return (path, self.files[path]) if path in self.files else None


CONF = """global_defs {{
{globals}}}
vrrp_script chk {{
  script "{script}"
}}
vrrp_instance VI_1 {{
  interface {interface}
  virtual_router_id 5
  track_interface {{
    {tracked}
  }}
  track_script {{
    chk
  }}
  virtual_ipaddress {{
    192.0.2.5/24 dev {dev}
  }}
  notify_master "{notify} MASTER"
}}
"""


def read(host, **values):  # type: ignore[no-untyped-def]
    settings = {"globals": "  enable_script_security\n", "script": "/bin/chk", "interface": "eth0",
                "tracked": "eth1", "dev": "eth0", "notify": "/bin/note"}
    settings.update(values)
    return parse(lex_text(CONF.format(**settings), name="h.conf"), host)


def lines(config, severity="warning"):  # type: ignore[no-untyped-def]
    return [(d.where.line, d.message) for d in config.diagnostics if d.severity == severity]


def test_all_present_is_clean():
    host = FakeHost(files={"/bin/chk": True, "/bin/note": True})
    assert read(host).diagnostics == ()


def test_missing_interfaces_named_at_their_lines_in_keepalived_words():
    host = FakeHost(files={"/bin/chk": True, "/bin/note": True})
    config = read(host, interface="eth9", tracked="eth8", dev="eth7")
    assert lines(config) == [
        (8, "WARNING - interface eth9 for vrrp_instance VI_1 doesn't exist"),
        (11, "(VI_1) tracked interface eth8 doesn't exist"),
        (17, "WARNING - interface eth7 for ip address 192.0.2.5/24 doesn't exist"),
    ]
    assert config.usable  # keepalived runs it (the instance faults); check exits 5, not 1


def test_missing_garp_group_interface_named_at_the_group_in_keepalived_words():
    host = FakeHost(files={"/bin/chk": True, "/bin/note": True})
    text = CONF.format(globals="  enable_script_security\n", script="/bin/chk", interface="eth0", tracked="eth1",
                       dev="eth0", notify="/bin/note")
    text += "garp_group {\n  garp_interval 0.1\n  interfaces {\n    eth1 eth6\n  }\n}\n"
    config = parse(lex_text(text, name="h.conf"), host)
    assert lines(config) == [(21, "WARNING - interface eth6 specified for garp_group doesn't exist")]
    assert config.garp_groups[0].interfaces == ("eth1", "eth6")


def test_dynamic_interfaces_silences_missing_interfaces_as_keepalived_t_does():
    host = FakeHost(files={"/bin/chk": True, "/bin/note": True})
    config = read(host, interface="eth9", tracked="eth8", dev="eth7",
                  globals="  enable_script_security\n  dynamic_interfaces\n")
    assert lines(config) == []


def test_missing_and_unexecutable_scripts():
    config = read(FakeHost(files={"/bin/note": False}))
    assert lines(config) == [
        (4, "Disabling track script chk since not found/accessible: '/bin/chk' does not exist"),
        (19, "(VI_1) notify_master script '/bin/note' is not executable"),
    ]


def test_security_violation_counts_only_scripts_that_exist():
    # keepalived disables a script it cannot find, so it does not count toward the violation
    config = read(FakeHost(files={}), globals="")
    assert SECURITY_VIOLATION not in [m for _, m in lines(config)]
    config = read(FakeHost(files={"/bin/note": True}), globals="")
    assert (18, SECURITY_VIOLATION) in lines(config)
    config = read(FakeHost(files={"/bin/chk": True, "/bin/note": True}), globals="")
    assert lines(config) == [(3, SECURITY_VIOLATION)]  # once, at the first script


def test_file_test_scripts_are_not_looked_up():
    config = read(FakeHost(files={"/bin/note": True}), script="</run/flag")
    assert lines(config) == []


def test_without_a_host_nothing_is_looked_up():
    config = loads(CONF.format(globals="", script="/nonexistent/x", interface="eth9", tracked="eth8",
                               dev="eth7", notify="/nonexistent/y"))
    assert not [d for d in config.diagnostics if d.severity == "warning"]


def test_local_host_sees_this_namespace_and_path():
    host = LocalHost()
    assert host.interface_exists("lo") and not host.interface_exists("vk-no-such0")
    assert host.script_file("sh") is not None and host.script_file("sh")[1]
    assert host.script_file("/etc/passwd") == ("/etc/passwd", False)
    assert host.script_file("/nonexistent/x") is None and host.script_file("/etc") is None
