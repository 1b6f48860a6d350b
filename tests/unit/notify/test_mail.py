"""Mail alerts: keepalived's subject/body/DATA format, the asyncio SMTP client against the lab's
sink on the loopback (delivered, recipient refused, connection refused, silent server timing
out), and the Mailer's rules (one mail per state, no_email_faults, nothing without a server)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from vipkeeper.config.model import GlobalDefs
from vipkeeper.lab.smtp_sink import SmtpSink
from vipkeeper.notify.mail import Mailer
from vipkeeper.notify.mail_format import LastMailed, alert, message
from vipkeeper.notify.smtp import MailError, send_mail


def test_subjects_and_bodies_are_keepalived_s():
    assert alert("INSTANCE", "VI_1", "MASTER", "lb1") == (
        "[lb1] VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <=")
    assert alert("INSTANCE", "VI_1", "BACKUP", "lb1")[1] == "=> VRRP Instance is no longer owning VRRP VIPs <="
    assert alert("INSTANCE", "VI_1", "STOP", "lb1")[0] == "[lb1] VRRP Instance VI_1 - Stopping"
    assert alert("INSTANCE", "VI_1", "DELETED", "lb1")[1] == "=> VRRP Deleted at reload <="
    assert alert("GROUP", "G", "FAULT", "lb1") == (
        "[lb1] VRRP Group G - Entering FAULT state", "=> All VRRP group instances are now in FAULT state <=")
    assert alert("GROUP", "G", "DELETED", "lb1") is None
    assert alert("INSTANCE", "VI_1", "MASTER_RX_LOWER_PRI", "lb1") is None


def test_data_is_keepalived_s_byte_for_byte():
    when = time.mktime((2026, 11, 30, 12, 0, 5, 0, 0, -1))
    data = message("ka@example.com", ("a@example.com", "b@example.com"), "S", "B", when)
    head, _, tail = data.partition(b"\r\n")
    assert head.startswith(b"Date: Mon, 30 Nov 2026 12:00:05 ")
    assert tail == (b"From: ka@example.com\r\nSubject: S\r\nX-Mailer: Keepalived\r\n"
                    b"To: a@example.com, b@example.com\r\n\r\nB\r\n\r\n.\r\n")


def test_last_mailed_once_per_state_and_no_email_faults():
    last = LastMailed()
    assert last.due("INSTANCE", "V", "BACKUP", False)
    assert not last.due("INSTANCE", "V", "BACKUP", False)
    assert last.due("INSTANCE", "V", "MASTER", False)
    assert last.due("GROUP", "V", "MASTER", False)  # a group of the same name is another sender
    assert not last.due("INSTANCE", "V", "FAULT", True)
    assert last.due("INSTANCE", "V", "FAULT", False)


@pytest.fixture
def sink():
    s = SmtpSink.bind_in(None, "127.0.0.1", 0, refuse=frozenset({"nobody@example.com"}))
    try:
        yield s
    finally:
        s.close()


def test_client_delivers_to_every_recipient(sink):
    data = message("ka@example.com", ("a@example.com", "b@example.com"), "Subj", "Body", time.time())
    asyncio.run(send_mail("127.0.0.1", sink.port, "lb1", "ka@example.com", ("a@example.com", "b@example.com"),
                          data, 5.0))
    [mail] = sink.received()
    assert (mail.helo, mail.sender, mail.recipients) == ("lb1", "ka@example.com", ["a@example.com", "b@example.com"])
    assert mail.headers["Subject"] == "Subj" and mail.body_lines[0] == "Body"


def test_client_refused_recipient_is_keepalived_s_line(sink):
    with pytest.raises(MailError) as caught:
        asyncio.run(send_mail("127.0.0.1", sink.port, "h", "f@example.com", ("nobody@example.com",), b".\r\n", 5.0))
    assert str(caught.value) == (f"Error processing RCPT cmd on SMTP server [127.0.0.1]:{sink.port}. "
                                 "SMTP status code = 550")
    assert sink.received() == []


def test_client_connection_refused_and_silent_server():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(MailError, match=r"SMTP connection ERROR to \[127.0.0.1\]"):
        asyncio.run(send_mail("127.0.0.1", port, "h", "f", ("a",), b"", 2.0))
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts (the kernel does) but never says 220
    try:
        started = time.monotonic()
        with pytest.raises(MailError, match=r"Timeout reading data to remote SMTP server"):
            asyncio.run(send_mail("127.0.0.1", silent.getsockname()[1], "h", "f", ("a",), b"", 0.3))
        assert time.monotonic() - started < 2.0
    finally:
        silent.close()


def test_mailer_counts_sent_and_failed_without_blocking(sink):
    async def scenario() -> Mailer:
        g = GlobalDefs(router_id="lb1", notification_email=("a@example.com",), notification_email_from="k@example.com",
                       smtp_server=("127.0.0.1", sink.port), smtp_connect_timeout=2.0)
        mailer = Mailer(g)
        task = mailer.alert("INSTANCE", "VI_1", "MASTER", True)
        assert mailer.alert("INSTANCE", "VI_1", "MASTER", True) is None  # same state: no second mail
        assert mailer.alert("INSTANCE", "VI_2", "MASTER", False) is None  # smtp_alert off
        assert task is not None and not task.done()  # alert() returned before any byte was sent
        await task
        mailer.global_defs = GlobalDefs(notification_email=("a@example.com",), smtp_server=("127.0.0.1", 1),
                                        smtp_connect_timeout=1.0)
        await mailer.alert("INSTANCE", "VI_1", "BACKUP", True)  # type: ignore[misc]
        assert Mailer(GlobalDefs(smtp_server=("127.0.0.1", 1))).alert("INSTANCE", "V", "MASTER", True) is None
        return mailer

    mailer = asyncio.run(scenario())
    assert mailer.snapshot() == {"configured": True, "sent": 1, "failed": 1, "in_flight": 0,
                                 "last_error": "SMTP connection ERROR to [127.0.0.1]:1. (Connect call failed "
                                               "('127.0.0.1', 1))"}
    [mail] = sink.received()
    assert mail.headers["Subject"] == "[lb1] VRRP Instance VI_1 - Entering MASTER state"
