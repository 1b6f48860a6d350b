"""A blocking client for the control socket, for the `vipkeeper status` command and tests.

Every failure a user can cause or meet (daemon not running, socket missing, not root, a reply
that is not JSON, an error reply) becomes one `ControlError` with a sentence fit to print.
The server must be root (SO_PEERCRED on the connected socket): a socket someone else put at
the path gets no request and its answers are not believed.
"""

from __future__ import annotations

import errno
import json
import socket
from typing import Any

from vipkeeper.control.server import DEFAULT_PATH, MAX_REQUEST, peer_uid

MAX_REPLY = 64 * 1024 * 1024


class ControlError(Exception):
    """The daemon could not be asked, or said no. str() is a one-line message."""


def request(cmd: str, path: str = DEFAULT_PATH, timeout: float = 5.0, **args: Any) -> Any:
    """Send `{"cmd": cmd, **args}` and return the reply's `data`."""
    payload = json.dumps({"cmd": cmd, **args}).encode() + b"\n"
    if len(payload) > MAX_REQUEST:
        raise ControlError("request too long")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except FileNotFoundError:
            raise ControlError(f"{path} does not exist: is vipkeeper running?") from None
        except ConnectionRefusedError:
            raise ControlError(f"nobody listens on {path}: vipkeeper is not running") from None
        except PermissionError:
            raise ControlError(f"permission denied on {path}: run as root") from None
        except OSError as exc:
            if exc.errno == errno.ENOTSOCK:
                raise ControlError(f"{path} is not a socket") from None
            raise ControlError(f"cannot connect to {path}: {exc.strerror or exc}") from None
        server_uid = peer_uid(sock)
        if server_uid != 0:
            raise ControlError(f"{path} is served by uid {server_uid}, not root: not vipkeeper's socket, "
                               "refusing to talk to it")
        try:
            sock.sendall(payload)
            line = _read_line(sock)
        except socket.timeout:
            raise ControlError(f"no answer from {path} within {timeout:g}s") from None
        except OSError as exc:
            raise ControlError(f"lost connection to {path}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    if not line:
        raise ControlError(f"{path} closed the connection without answering")
    try:
        reply = json.loads(line)
    except ValueError:
        raise ControlError(f"unreadable answer from {path}") from None
    if not isinstance(reply, dict) or "ok" not in reply:
        raise ControlError(f"unexpected answer from {path}")
    if not reply["ok"]:
        raise ControlError(str(reply.get("error") or "the daemon refused the request"))
    return reply.get("data")


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunks.append(chunk[:newline])
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY:
            raise ControlError("answer too long")
    return b"".join(chunks)
