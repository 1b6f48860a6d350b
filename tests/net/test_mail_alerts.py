"""smtp_alert in namespaces: a transition mails every notification_email address through the lab's
SMTP sink on the client, with keepalived 2.2.7's envelope, headers, subject and body - compared
with the mails keepalived 2.2.7 itself sends for the same file to the same sink; with the SMTP
server unreachable, a failover still happens on time and each lost mail is counted in status."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from vipkeeper.control.client import ControlError, request
from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.smtp_sink import Mail, SmtpSink
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

MAIL_CONF = """global_defs {{
  router_id lab1
  notification_email {{
    admin@example.com
    oncall@example.com
  }}
  notification_email_from vrrp@example.com
  smtp_server {server} {port}
  smtp_helo_name lab1.example.com
  smtp_connect_timeout {timeout}
  smtp_alert
}}
vrrp_instance VI_1 {{
  state {state}
  interface eth0
  virtual_router_id 64
  priority {priority}
  version 3
  advert_int {advert}
  virtual_ipaddress {{
    192.0.2.64/24
  }}
}}
"""


def _conf(tmp_path: Path, name: str, **values: object) -> Path:
    base = {"server": "192.0.2.200", "port": 2525, "timeout": 5, "state": "MASTER", "priority": 150, "advert": 1}
    path = tmp_path / name
    path.write_text(MAIL_CONF.format(**{**base, **values}))
    return path


def _vip(topology: Topology, ns: str) -> bool:
    return any(a.with_prefixlen == "192.0.2.64/24" for a in topology.addresses(ns))


def _shape(mail: Mail) -> tuple:
    """Everything of a mail but its Date."""
    return (mail.helo, mail.sender, mail.recipients, mail.header_names,
            {k: v for k, v in mail.headers.items() if k != "Date"}, mail.body_lines)


def _run_until_master_mail(kind: str, topology: Topology, ns: str, conf: Path, tmp_path: Path,
                           sink: SmtpSink) -> list[Mail]:
    before = len(sink.received())
    daemon = HostDaemon(kind, ns, conf, tmp_path, kind)
    daemon.start()
    try:
        sink.wait(lambda m: any("MASTER" in x.headers.get("Subject", "") for x in m[before:]), 20)
        assert _vip(topology, ns), f"{kind} holds the VIP"
    finally:
        daemon.stop(timeout=10)
        print(f"\n{kind} log:\n" + "\n".join(daemon.log_lines()))
    # keepalived 2.2.7 sends no "Stopping" mail at exit (measured here); a late one would show up
    # within the daemon's stop, which has returned: whatever the sink has now is what was sent
    return sink.received()[before:]


def test_transition_mails_like_keepalived(topology: Topology, lan, tmp_path: Path) -> None:
    sink = SmtpSink.bind_in(lan["client"].ns, "192.0.2.200", 2525)
    try:
        conf = _conf(tmp_path, "mail.conf")
        ours = _run_until_master_mail("vipkeeper", topology, lan["a"].ns, conf, tmp_path, sink)
        theirs = _run_until_master_mail("keepalived", topology, lan["a"].ns, conf, tmp_path, sink)
    finally:
        sink.close()
    master = [m for m in ours if m.headers["Subject"] == "[lab1] VRRP Instance VI_1 - Entering MASTER state"]
    assert len(master) == 1, [m.headers.get("Subject") for m in ours]
    mail = master[0]
    assert mail.recipients == ["admin@example.com", "oncall@example.com"]
    assert (mail.helo, mail.sender) == ("lab1.example.com", "vrrp@example.com")
    assert mail.headers["To"] == "admin@example.com, oncall@example.com"
    assert mail.headers["X-Mailer"] == "Keepalived"
    assert mail.body_lines[0] == "=> VRRP Instance is now owning VRRP VIPs <="
    # keepalived 2.2.7, same file, same sink: the same mails in the same order, Date aside
    print("\nvipkeeper:", [m.headers.get("Subject") for m in ours], "\nkeepalived:",
          [m.headers.get("Subject") for m in theirs])
    ka_master = [m for m in theirs if "Entering MASTER" in m.headers.get("Subject", "")]
    assert ka_master, [m.headers.get("Subject") for m in theirs]
    assert _shape(ka_master[0]) == _shape(mail)
    assert [m.headers["Subject"] for m in ours] == [m.headers["Subject"] for m in theirs] == [
        "[lab1] VRRP Instance VI_1 - Entering BACKUP state", "[lab1] VRRP Instance VI_1 - Entering MASTER state"]


def _status(daemon: HostDaemon) -> dict | None:
    try:
        return request("status", path=daemon.control_socket, timeout=2.0)
    except ControlError:
        return None


def test_dead_smtp_server_costs_nothing_but_a_counted_failure(topology: Topology, lan, tmp_path: Path) -> None:
    # 192.0.2.250 is on the LAN but nobody answers: each connection hangs until its timeout
    down = {"server": "192.0.2.250", "port": 25, "timeout": 3, "advert": 0.5}
    a = HostDaemon("vipkeeper", lan["a"].ns, _conf(tmp_path, "a.conf", state="BACKUP", priority=100, **down),
                   tmp_path, "a")
    b = HostDaemon("vipkeeper", lan["b"].ns, _conf(tmp_path, "b.conf", priority=150, **down), tmp_path, "b")
    b.start()
    try:
        wait_for(lambda: _vip(topology, lan["b"].ns), 15, what="b master")
        a.start()
        wait_for(lambda: (_status(a) or {}).get("instances", [{}])[0].get("state") == "BACKUP", 15,
                 what="a backup")
        stopped = b.signal(signal.SIGTERM)  # priority 0: a takes over after its skew time (~0.3 s)
        wait_for(lambda: _vip(topology, lan["a"].ns), 5, what="a takes over")
        took = time.time() - stopped
        assert took < 1.5, f"takeover took {took:.2f}s with mail to a dead server pending"
        mail = _status(a)["daemon"]["mail"]  # type: ignore[index]
        assert mail["in_flight"] >= 1 and mail["sent"] == 0, mail  # the MASTER mail is still trying
        def settled() -> dict | None:
            m = _status(a)["daemon"]["mail"]  # type: ignore[index]
            return m if m["failed"] >= 2 and m["in_flight"] == 0 else None

        final = wait_for(settled, 15, what="both mails counted as failed")
        assert final["sent"] == 0
        assert ("Timeout opening connection to remote SMTP server [192.0.2.250]:25." == final["last_error"]
                or final["last_error"].startswith("SMTP connection ERROR to [192.0.2.250]:25.")), final
        log = "\n".join(a.log_lines())
        assert "Traceback" not in log
    finally:
        a.stop(timeout=10)
        b.stop(timeout=10)
