"""A minimal SMTP client on asyncio streams, speaking what keepalived 2.2.7 speaks (core/smtp.c).

Rules
- One connection per mail: connect, 220, `HELO name`, 250, `MAIL FROM:<from>`, 250, one
  `RCPT TO:<addr>` per recipient each 250, `DATA` 354, the message 250, `QUIT` 221. Multi-line
  replies ("250-...") are read to their last line.
- `smtp_connect_timeout` bounds the connection and each reply, as keepalived's read timers.
- Never blocks the event loop: name resolution, connect and reads are awaited. A failure raises
  `MailError` with keepalived's log wording ("Timeout opening connection to remote SMTP server
  [ADDR]:PORT.", "Error processing RCPT cmd on SMTP server [ADDR]:PORT. SMTP status code = 550").
"""

from __future__ import annotations

import asyncio


class MailError(Exception):
    """A mail that was not delivered to the server; the message is one log line."""


async def send_mail(host: str, port: int, helo: str, sender: str, recipients: tuple[str, ...], data: bytes,
                    timeout: float) -> None:
    where = f"[{host}]:{port}"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        raise MailError(f"Timeout opening connection to remote SMTP server {where}.") from None
    except OSError as exc:
        raise MailError(f"SMTP connection ERROR to {where}. ({exc.strerror or exc})") from None
    try:
        await _expect(reader, 220, "(E)SMTP", where, timeout)
        steps: list[tuple[bytes, int, str]] = [(f"HELO {helo}\r\n".encode(), 250, "HELO"),
                                               (f"MAIL FROM:<{sender}>\r\n".encode(), 250, "MAIL")]
        steps += [(f"RCPT TO:<{rcpt}>\r\n".encode(), 250, "RCPT") for rcpt in recipients]
        steps += [(b"DATA\r\n", 354, "DATA"), (data, 250, "BODY"), (b"QUIT\r\n", 221, "QUIT")]
        for payload, code, name in steps:
            writer.write(payload)
            try:
                await asyncio.wait_for(writer.drain(), timeout)
            except (OSError, TimeoutError):
                raise MailError(f"Cannot send data to remote SMTP server {where}.") from None
            await _expect(reader, code, name, where, timeout)
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (OSError, TimeoutError):
            pass


async def _expect(reader: asyncio.StreamReader, code: int, name: str, where: str, timeout: float) -> None:
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
        except TimeoutError:
            raise MailError(f"Timeout reading data to remote SMTP server {where}.") from None
        except OSError:
            raise MailError(f"Error reading data from remote SMTP server {where}.") from None
        if not line:
            raise MailError(f"Remote SMTP server {where} has closed the connection.")
        if len(line) > 3 and line[3:4] == b"-":
            continue  # a multi-line reply: its last line has the code
        try:
            status = int(line[:3])
        except ValueError:
            status = -1
        if status != code:
            raise MailError(f"Error processing {name} cmd on SMTP server {where}. SMTP status code = {status}")
        return
