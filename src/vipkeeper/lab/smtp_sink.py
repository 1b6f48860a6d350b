"""A tiny SMTP server that keeps what it is sent: the lab's mail sink for smtp_alert tests.

It answers 220/250/354/221 like any relay, records each mail's HELO name, envelope sender and
recipients, the DATA as sent (headers and body lines), the receiving time; it can be told to
refuse a recipient (550). It serves on a thread from a socket bound wherever the caller made it
(`SmtpSink.bind_in(ns, ...)` binds inside a network namespace), and stops when closed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vipkeeper.net.netns import call_in


@dataclass
class Mail:
    helo: str = ""
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    data: bytes = b""
    received: float = 0.0  # time.time() at the final "."

    @property
    def headers(self) -> dict[str, str]:
        head = self.data.split(b"\r\n\r\n", 1)[0].decode()
        return dict(line.split(": ", 1) for line in head.split("\r\n") if ": " in line)

    @property
    def header_names(self) -> list[str]:
        head = self.data.split(b"\r\n\r\n", 1)[0].decode()
        return [line.split(":", 1)[0] for line in head.split("\r\n")]

    @property
    def body_lines(self) -> list[str]:
        return self.data.split(b"\r\n\r\n", 1)[1].decode().split("\r\n")


class SmtpSink:
    def __init__(self, sock: socket.socket, refuse: frozenset[str] = frozenset()) -> None:
        self.sock = sock
        self.refuse = refuse
        self.mails: list[Mail] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="smtp-sink", daemon=True)
        self._thread.start()

    @classmethod
    def bind_in(cls, ns: str | None, address: str, port: int, refuse: frozenset[str] = frozenset()) -> SmtpSink:
        def make() -> socket.socket:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(16)
            sock.settimeout(0.2)
            return sock

        return cls(call_in(ns, make) if ns else make(), refuse)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def received(self) -> list[Mail]:
        with self._lock:
            return list(self.mails)

    def wait(self, predicate: Callable[[list[Mail]], bool], timeout: float) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.received()
            if predicate(mails):
                return mails
            time.sleep(0.02)
        return self.received()

    def close(self) -> None:
        self._closed = True
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            with conn:
                conn.settimeout(10)
                try:
                    self._session(conn)
                except OSError:
                    pass

    def _session(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"220 sink.example ESMTP vipkeeper-lab\r\n")
        mail = Mail()
        while True:
            line = reader.readline()
            if not line:
                return
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper().strip()
            text = line.decode(errors="replace").rstrip("\r\n")
            if verb in (b"HELO", b"EHLO"):
                mail.helo = text.split(" ", 1)[1] if " " in text else ""
                conn.sendall(b"250 sink.example\r\n")
            elif verb == b"MAIL":
                mail.sender = text.split(":", 1)[1].strip().strip("<>")
                conn.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                rcpt = text.split(":", 1)[1].strip().strip("<>")
                if rcpt in self.refuse:
                    conn.sendall(b"550 5.1.1 no such user\r\n")
                else:
                    mail.recipients.append(rcpt)
                    conn.sendall(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    chunk = reader.readline()
                    if not chunk:
                        return
                    data += chunk
                mail.data = data[:-3]  # the message as sent, without the terminating ".\r\n"
                mail.received = time.time()
                with self._lock:
                    self.mails.append(mail)
                mail = Mail(helo=mail.helo)
                conn.sendall(b"250 2.0.0 Ok: queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 Error: command not recognized\r\n")
