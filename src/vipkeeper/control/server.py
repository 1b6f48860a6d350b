"""The control socket: a root-only Unix stream socket answering one JSON line per request.

Rules
- Root only, in two layers: the socket file is 0600 inside a directory created 0700, and every
  connection's SO_PEERCRED uid must be 0. The second layer stays when an admin loosens the
  file mode (a `chmod 666` to "let monitoring in" must not hand out `reload`).
- The directory must be safe before anything is bound in it: a real directory (not a symlink),
  owned by root, with no group or other write (0700 or 0755), and so must every directory above
  it unless it is root's and sticky (like /tmp). A directory others can write is refused: there
  anyone could swap the socket for their own and answer `vipkeeper status` (the client, for its
  part, checks that the server is root: client.py).
- One request is one JSON object on one line, `{"cmd": "status"}`; one reply is one JSON object
  on one line: `{"ok": true, "data": ...}` or `{"ok": false, "error": "..."}`. A client may send
  several requests on one connection.
- Bad input never takes the daemon down: malformed JSON, a non-object, an unknown command, an
  oversized line (more than `MAX_REQUEST` bytes), a handler that raises — each gets an error reply
  (an oversized line also closes the connection, since the stream cannot be resynchronised).
- The server holds no state of its own: `status` and `dump` call the daemon's `snapshot()` at
  the moment of the request.
- A big reply never exists whole: when `snapshot` is the bound method of an object that also
  offers `snapshot_parts()` (the daemon's Runtime), the reply is written instance by instance,
  each instance made, encoded and written before the next one (the same bytes as the whole
  reply encoded at once). A thousand instances built and encoded at once left the daemon 5 MiB
  larger for good; this way the peak is one instance and the socket's buffers. Each instance is
  consistent in itself; one made later in the reply may be a few milliseconds newer. If making
  one raises, the reply is cut off (the client sees an incomplete reply) and the error logged.

Theory of operation
`start()` prepares the directory, refuses to steal a socket another live daemon is listening on,
removes a stale one, binds with a umask that makes the file 0600 from its first instant, and hands
the listening socket to asyncio. Each connection is one task reading lines; `close()` stops
listening, cancels those tasks and removes the socket file if it is still the one we bound.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Iterator, Mapping
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

    Snapshot = Callable[[], dict]
    # A handler gets the whole request object (so commands can take arguments) and returns the
    # reply's `data` (or an awaitable of it). Raising an exception turns into an error reply.
    Handler = Callable[[dict], Any | Awaitable[Any]]

log = logging.getLogger("vipkeeper.control")

DEFAULT_PATH = "/run/vipkeeper/vipkeeper.ctl"
MAX_REQUEST = 64 * 1024  # bytes in one request line
IDLE_TIMEOUT = 300.0  # seconds a connection may sit without sending a request
LINGER = 1.0  # seconds to wait for a refused client to hang up

_BUILTIN = ("status", "dump")


class ControlSocketError(Exception):
    """The control socket cannot be set up (path in use by a live daemon, not a socket, ...)."""


def unsafe_directory(directory: str) -> str | None:
    """Why `directory` (and the path to it) is not a safe home for a root-only socket, or None."""
    path = os.path.abspath(directory)
    euid = os.geteuid()
    first = True
    while True:
        try:
            st = os.lstat(path)
        except OSError as exc:
            return f"{path}: {exc.strerror}"
        if stat.S_ISLNK(st.st_mode) and first:
            return f"{path} is a symbolic link"
        if stat.S_ISLNK(st.st_mode):
            if st.st_uid not in (0, euid):
                return f"{path} is a symbolic link owned by uid {st.st_uid}"
        elif not stat.S_ISDIR(st.st_mode):
            return f"{path} is not a directory"
        else:
            sticky = bool(st.st_mode & stat.S_ISVTX) and not first
            if st.st_uid not in (0, euid):
                return f"{path} is owned by uid {st.st_uid}, not root"
            if st.st_mode & 0o022 and not sticky:
                who = "others" if st.st_mode & 0o002 else "its group"
                return f"{path} is writable by {who} (mode {st.st_mode & 0o7777:04o})"
        first = False
        if path == "/":
            return None
        path = os.path.dirname(path)


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket (SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class ControlServer:
    """The daemon's control socket.

    `snapshot` is called for `status` and `dump`; `handlers` maps further command names (e.g.
    "reload") to callables taking the request dict. A handler named "status" or "dump" overrides
    the built-in answer.
    """

    def __init__(
        self,
        path: str = DEFAULT_PATH,
        snapshot: Snapshot | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self.path = path
        self._snapshot = snapshot or (lambda: {})
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._inode: tuple[int, int] | None = None
        # the daemon's snapshot in parts (module docstring), for `status` and `dump`
        self._parts: Callable[[], tuple[dict, Iterator[dict]]] | None = getattr(
            getattr(snapshot, "__self__", None), "snapshot_parts", None)

    @property
    def commands(self) -> list[str]:
        return sorted(set(_BUILTIN) | set(self._handlers))

    async def start(self) -> None:
        sock = self._bind()
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, sock=sock, limit=MAX_REQUEST
            )
        except BaseException:
            sock.close()
            self._remove_socket_file()
            raise
        log.info("control socket listening on %s", self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._remove_socket_file()

    # -- setting up the file -------------------------------------------------------------

    def _bind(self) -> socket.socket:
        directory = os.path.dirname(self.path) or "."
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ControlSocketError(f"cannot create {directory}: {exc.strerror}") from None
        problem = unsafe_directory(directory)
        if problem:
            raise ControlSocketError(f"refusing {directory} for the control socket: {problem}")
        self._clear_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(self.path)
        except OSError as exc:
            sock.close()
            raise ControlSocketError(f"cannot bind {self.path}: {exc.strerror}") from None
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        st = os.lstat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        sock.setblocking(False)
        return sock

    def _clear_stale(self) -> None:
        """Remove a socket left by a dead daemon; refuse to touch anything else."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlSocketError(f"{self.path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(self.path)
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise ControlSocketError(f"cannot probe {self.path}: {exc.strerror}") from None
        else:
            raise ControlSocketError(f"{self.path} is in use: is another daemon running?")
        finally:
            probe.close()
        os.unlink(self.path)

    def _remove_socket_file(self) -> None:
        if self._inode is None:
            return
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._inode = None

    # -- connections ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            uid = peer_uid(sock)
        except OSError as exc:
            log.warning("control socket: cannot read peer credentials: %s", exc.strerror)
            uid = -1
        if uid != 0:
            log.warning("control socket: refused a connection from uid %d (root only)", uid)
            await self._reply(writer, _error("permission denied: the control socket is root-only"))
            await _linger(reader, writer)
            return
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
            except asyncio.TimeoutError:
                return
            except (ValueError, asyncio.LimitOverrunError):
                await self._reply(writer, _error(f"request too long (limit {MAX_REQUEST} bytes)"))
                await _linger(reader, writer)
                return
            if not line:
                return
            if not line.strip():
                continue
            await self._reply(writer, await self._answer(line))

    async def _answer(self, line: bytes) -> dict:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(f"malformed request: {exc}")
        if not isinstance(request, dict):
            return _error('malformed request: expected a JSON object like {"cmd": "status"}')
        cmd = request.get("cmd")
        if not isinstance(cmd, str):
            return _error('malformed request: missing "cmd"')
        handler = self._handlers.get(cmd)
        try:
            if handler is not None:
                data = handler(request)
                if isinstance(data, Awaitable):  # an async handler's coroutine (not `inspect`: issue 18, RSS)
                    data = await data
            elif cmd in _BUILTIN and self._parts is not None:
                head, rows = self._parts()
                data = {key: _Rows(rows) if key == "instances" else value for key, value in head.items()}
            elif cmd in _BUILTIN:
                data = self._snapshot()
            else:
                return _error(f"unknown command {cmd!r}; known: {', '.join(self.commands)}")
        except Exception as exc:  # a failing handler must not kill the connection or daemon
            log.exception("control socket: command %r failed", cmd)
            return _error(f"{cmd} failed: {exc}")
        return {"ok": True, "data": data}

    async def _reply(self, writer: asyncio.StreamWriter, reply: dict) -> None:
        if isinstance(reply.get("data"), dict) and any(isinstance(v, _Rows) for v in reply["data"].values()):
            await self._reply_in_parts(writer, reply["data"])
            return
        try:
            text = json.dumps(reply, default=str)
        except (TypeError, ValueError) as exc:
            text = json.dumps(_error(f"reply not serialisable: {exc}"))
        big = len(text) > _TRIM_ABOVE
        writer.write(text.encode() + b"\n")
        del text, reply
        await writer.drain()
        if big:
            _trim()


    async def _reply_in_parts(self, writer: asyncio.StreamWriter, data: dict) -> None:
        """`{"ok": true, "data": data}` as json.dumps writes it, each row of a `_Rows` value
        made and encoded when its turn comes, written out every CHUNK characters."""
        out = ['{"ok": true, "data": {']
        pending = written = 0
        try:
            for i, (key, value) in enumerate(data.items()):
                out.append((", " if i else "") + _dumps(key) + ": ")
                if not isinstance(value, _Rows):
                    out.append(_dumps(value))
                    continue
                out.append("[")
                for j, row in enumerate(value.rows):
                    text = (", " if j else "") + _dumps(row)
                    out.append(text)
                    pending += len(text)
                    if pending >= CHUNK:
                        chunk = "".join(out).encode()
                        out.clear()
                        written += len(chunk)
                        pending = 0
                        writer.write(chunk)
                        del chunk
                        await writer.drain()
                out.append("]")
        except Exception:
            log.exception("control socket: status failed while it was being written")
            writer.transport.abort()
            return
        out.append("}}\n")
        chunk = "".join(out).encode()
        written += len(chunk)
        writer.write(chunk)
        del chunk, out, data
        await writer.drain()
        if written > _TRIM_ABOVE:
            _trim()


class _Rows:
    """A reply value written row by row (ControlServer._reply_in_parts)."""

    __slots__ = ("rows",)

    def __init__(self, rows: Iterator[dict]) -> None:
        self.rows = rows


def _dumps(value: object) -> str:
    return json.dumps(value, default=str)


CHUNK = 64 * 1024  # characters of a reply written at once when it is written in parts


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Before hanging up on a client, let it read our last reply.

    Closing a socket with unread input resets the connection, and the peer may then lose the
    reply it has not read yet. So: end our side, and swallow what it still sends, briefly.
    """
    try:
        writer.write_eof()
        deadline = asyncio.get_running_loop().time() + LINGER
        received = 0
        while received < 4 * MAX_REQUEST:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            chunk = await asyncio.wait_for(reader.read(65536), remaining)
            if not chunk:
                break
            received += len(chunk)
    except (OSError, asyncio.TimeoutError, ValueError):
        pass


_TRIM_ABOVE = 256 * 1024  # characters of a reply after which the heap is trimmed (below)
_LIBC: Any = None


def _trim() -> None:
    """Give the C heap's free pages back to the kernel (glibc's malloc_trim). A status of a
    thousand instances is megabytes of short-lived dicts and strings; freed, they left the
    daemon's resident memory 8 MiB larger for good (fragments of the heap stay mapped)."""
    global _LIBC
    try:
        if _LIBC is None:
            import ctypes

            # the process's own symbols (dlopen(NULL)): ctypes.util.find_library would run
            # `ldconfig -p` and import shutil, which maps bz2 and lzma
            _LIBC = ctypes.CDLL(None)
        _LIBC.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to give back this way
        _LIBC = False


def _error(message: str) -> dict:
    return {"ok": False, "error": message}
