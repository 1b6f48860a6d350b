"""Mail alerts on transitions (`smtp_alert`), sent in the background and counted.

Rules
- A transition of an instance (or sync group) with `smtp_alert` resolved on mails every
  `notification_email` address through `smtp_server`, in keepalived's format (mail_format.py),
  only when the state differs from the last one mailed, never FAULT with `no_email_faults`.
  Without `notification_email` or `smtp_server`, nothing is sent (keepalived's rule).
- Defaults as keepalived 2.2.7 (core/global_data.c): router_id and the HELO name are the host
  name, the sender `USER@HOSTNAME` (the daemon's user).
- Each mail is its own task: the transition that asked for it has already happened on the wire
  and in netlink; a dead or slow SMTP server costs a counted failure and one log line, never a
  delay (notify/smtp.py is asyncio all the way, bounded by smtp_connect_timeout).
- At shutdown no "Stopping" mail is sent: keepalived 2.2.7 formats one but exits before it goes
  out (measured: tests/net/test_mail_alerts.py sees none from keepalived), so admins of a
  keepalived pair never got it. Mails already in flight get a short grace period, then are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import socket
import time
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper.config.model import GlobalDefs
from vipkeeper.notify.mail_format import LastMailed, alert, message
from vipkeeper.notify.smtp import MailError, send_mail

log = logging.getLogger("vipkeeper.notify")

SHUTDOWN_GRACE = 1.0  # s a mail already in flight may still take at exit (delays the exit, never a VIP)


def defaults(g: GlobalDefs) -> tuple[str, str, str]:
    """(router_id, sender, HELO name) with keepalived's defaults filled in."""
    host = socket.gethostname() or "localhost"
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    return (g.router_id or host, g.notification_email_from or f"{user}@{host}", g.smtp_helo_name or host)


class Mailer:
    def __init__(self, global_defs: GlobalDefs) -> None:
        self.global_defs = global_defs
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None
        self._last = LastMailed()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False  # set at shutdown: no new mail (see the module docstring)

    @property
    def configured(self) -> bool:
        g = self.global_defs
        return bool(g.notification_email) and g.smtp_server is not None

    def alert(self, kind: str, name: str, state: str, enabled: bool) -> asyncio.Task[None] | None:
        """A transition happened: start its mail if one is due; returns the task (tests await it)."""
        g = self.global_defs
        if self.closing or not enabled or not self.configured or not self._last.due(kind, name, state, g.no_email_faults):
            return None
        router_id, sender, helo = defaults(g)
        found = alert(kind, name, state, router_id)
        if found is None:
            return None
        subject, body = found
        data = message(sender, g.notification_email, subject, body, time.time())
        assert g.smtp_server is not None
        host, port = g.smtp_server
        task = asyncio.get_running_loop().create_task(
            self._send(host, port, helo, sender, g.notification_email, data, g.smtp_connect_timeout, subject),
            name=f"mail {subject}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _send(self, host: str, port: int, helo: str, sender: str, recipients: tuple[str, ...], data: bytes,
                    timeout: float, subject: str) -> None:
        try:
            await send_mail(host, port, helo, sender, recipients, data, timeout)
        except MailError as exc:
            self.failed += 1
            self.last_error = str(exc)
            log.info("%s", exc)
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback: a mail must not take the daemon down
            self.failed += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.info("SMTP alert failed: %s", self.last_error)
        else:
            self.sent += 1
            self.last_error = None
            log.info("SMTP alert successfully sent (%s)", subject)

    async def drain(self, timeout: float = SHUTDOWN_GRACE) -> None:
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    def snapshot(self) -> dict[str, Any]:
        return {"configured": self.configured, "sent": self.sent, "failed": self.failed,
                "in_flight": len(self._tasks), "last_error": self.last_error}
