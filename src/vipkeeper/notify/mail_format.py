"""What keepalived 2.2.7 mails on a transition: subject, body and the DATA it sends, byte for byte.

Rules (keepalived 2.2.7 vrrp/vrrp_notify.c vrrp_smtp_notifier, core/smtp.c smtp_alert, body_cmd;
include/smtp.h; read for the facts, checked against a real keepalived sending to a sink)
- Subject `[ROUTER_ID] VRRP Instance NAME - Entering MASTER state` (GROUP: `VRRP Group NAME`);
  MASTER, BACKUP, FAULT, STOP ("Stopping") and, for instances, DELETED ("Deleted") have a mail;
  other states none. Without a router_id keepalived uses the host name.
- The body is one line (below); the DATA is `Date:` (local time, "%a, %d %b %Y %H:%M:%S %z"),
  `From:`, `Subject:`, `X-Mailer: Keepalived`, `To:` (every recipient, ", "-joined), a blank
  line, the body, CRLF, then "\\r\\n.\\r\\n" - so the message ends with an empty line, as keepalived's.
- A mail goes only when the state differs from the last one mailed for that name
  (last_email_state), and FAULT is not mailed with `no_email_faults`.
Pure: the caller passes the time.
"""

from __future__ import annotations

import time

INSTANCE_ALERTS = {
    "MASTER": ("Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
    "BACKUP": ("Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "FAULT": ("Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "STOP": ("Stopping", "=> VRRP Instance stopping <="),
    "DELETED": ("Deleted", "=> VRRP Deleted at reload <="),
}
GROUP_ALERTS = {
    "MASTER": ("Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="),
    "BACKUP": ("Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="),
    "FAULT": ("Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="),
    "STOP": ("Stopping", "=> All VRRP group instances are now stopping <="),
}


def alert(kind: str, name: str, state: str, router_id: str) -> tuple[str, str] | None:
    """(subject, body) keepalived mails for `kind` (INSTANCE|GROUP) entering `state`, or None."""
    table = GROUP_ALERTS if kind == "GROUP" else INSTANCE_ALERTS
    found = table.get(state)
    if found is None:
        return None
    what = "VRRP Group" if kind == "GROUP" else "VRRP Instance"
    return f"[{router_id}] {what} {name} - {found[0]}", found[1]


def rfc822_date(when: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S %z", time.localtime(when))


def message(sender: str, recipients: tuple[str, ...], subject: str, body: str, when: float) -> bytes:
    """The bytes keepalived sends after DATA's 354, terminator included."""
    text = (f"Date: {rfc822_date(when)}\r\nFrom: {sender}\r\nSubject: {subject}\r\n"
            f"X-Mailer: Keepalived\r\nTo: {', '.join(recipients)}\r\n\r\n{body}\r\n\r\n.\r\n")
    return text.encode()


class LastMailed:
    """keepalived's last_email_state: one mail per state change of a name, FAULT optional."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], str] = {}

    def due(self, kind: str, name: str, state: str, no_email_faults: bool) -> bool:
        if no_email_faults and state == "FAULT":
            return False
        if self._last.get((kind, name)) == state:
            return False
        self._last[(kind, name)] = state
        return True
