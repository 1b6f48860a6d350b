"""The control socket over a real Unix socket: protocol, bad input, and the two root-only layers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest

from vipkeeper.control import client
from vipkeeper.control.server import MAX_REQUEST, ControlServer, ControlSocketError

NOBODY = 65534


@pytest.fixture
def sockdir():
    # Under /tmp (not pytest's 0700 tmp_path) so that the uid-nobody child can reach the
    # socket when a test deliberately loosens the modes.
    base = tempfile.mkdtemp(prefix="vkctl", dir="/tmp")
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def _exchange(path: str, *lines: bytes) -> list[dict]:
    reader, writer = await asyncio.open_unix_connection(path, limit=1 << 24)
    replies = []
    try:
        for line in lines:
            writer.write(line)
            await writer.drain()
            replies.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
    finally:
        writer.close()
        await writer.wait_closed()
    return replies


def _serve(path, snapshot, handlers=None, body=None):
    async def main():
        server = ControlServer(path, lambda: snapshot, handlers or {})
        await server.start()
        try:
            return await body(server)
        finally:
            await server.close()

    return asyncio.run(main())


def test_status_round_trip_and_socket_modes(sockdir, snapshot):
    path = os.path.join(sockdir, "run", "vipkeeper.ctl")

    async def body(server):
        dir_mode = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)
        st = os.lstat(path)
        replies = await _exchange(path, b'{"cmd": "status"}\n', b'{"cmd": "dump"}\n')
        return dir_mode, st, replies

    dir_mode, st, replies = _serve(path, snapshot, body=body)
    assert dir_mode == 0o700
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert replies[0] == {"ok": True, "data": snapshot}
    assert replies[1] == {"ok": True, "data": snapshot}
    assert not os.path.exists(path), "close() removes the socket file"


def test_malformed_and_unknown_requests_get_errors_not_crashes(sockdir, snapshot):
    path = os.path.join(sockdir, "c.ctl")

    async def body(server):
        return await _exchange(
            path,
            b"{not json\n",
            b"[1, 2]\n",
            b'{"command": "status"}\n',
            b"\xff\xfe\n",
            b'{"cmd": "frobnicate"}\n',
            b'{"cmd": "status"}\n',  # the same connection still works afterwards
        )

    replies = _serve(path, snapshot, body=body)
    assert [r["ok"] for r in replies] == [False, False, False, False, False, True]
    assert "malformed" in replies[0]["error"]
    assert "JSON object" in replies[1]["error"]
    assert '"cmd"' in replies[2]["error"]
    assert "unknown command 'frobnicate'" in replies[4]["error"]
    assert "status" in replies[4]["error"], "the error lists the known commands"
    assert replies[5]["data"]["daemon"]["pid"] == 4242


def test_oversized_request_is_refused_and_server_keeps_serving(sockdir, snapshot):
    path = os.path.join(sockdir, "c.ctl")

    async def body(server):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b'{"cmd": "' + b"x" * (MAX_REQUEST + 10) + b'"}\n')
        await writer.drain()
        reply = json.loads(await asyncio.wait_for(reader.readline(), 5))
        rest = await asyncio.wait_for(reader.read(), 5)  # the server closed this connection
        writer.close()
        again = await _exchange(path, b'{"cmd": "status"}\n')
        return reply, rest, again

    reply, rest, again = _serve(path, snapshot, body=body)
    assert reply["ok"] is False and "too long" in reply["error"]
    assert rest == b""
    assert again[0]["ok"] is True


def test_reload_handler_sync_async_and_failing(sockdir, snapshot):
    path = os.path.join(sockdir, "c.ctl")
    seen = []

    def reload(request):
        seen.append(request)
        return {"reloaded": True}

    async def areload(request):
        await asyncio.sleep(0)
        return "async ok"

    def broken(request):
        raise RuntimeError("config has errors")

    async def body(server):
        return await _exchange(path, b'{"cmd": "reload", "file": "x"}\n', b'{"cmd": "areload"}\n',
                               b'{"cmd": "broken"}\n')

    replies = _serve(path, snapshot, {"reload": reload, "areload": areload, "broken": broken}, body)
    assert replies[0] == {"ok": True, "data": {"reloaded": True}}
    assert seen == [{"cmd": "reload", "file": "x"}]
    assert replies[1] == {"ok": True, "data": "async ok"}
    assert replies[2] == {"ok": False, "error": "broken failed: config has errors"}


def test_blocking_client_round_trip_and_errors(sockdir, snapshot):
    path = os.path.join(sockdir, "c.ctl")

    async def body(server):
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(None, lambda: client.request("status", path=path))
        with pytest.raises(client.ControlError, match="unknown command"):
            await loop.run_in_executor(None, lambda: client.request("nope", path=path))
        return data

    assert _serve(path, snapshot, body=body) == snapshot
    with pytest.raises(client.ControlError, match="does not exist"):
        client.request("status", path=path)


def test_stale_socket_is_replaced_but_a_live_one_is_not_stolen(sockdir, snapshot):
    path = os.path.join(sockdir, "c.ctl")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # a dead daemon's leftover: the file exists, nobody listens

    async def body(server):
        other = ControlServer(path, lambda: {})
        with pytest.raises(ControlSocketError, match="in use"):
            await other.start()
        return (await _exchange(path, b'{"cmd": "status"}\n'))[0]

    assert _serve(path, snapshot, body=body)["ok"] is True

    with open(os.path.join(sockdir, "file"), "w"):
        pass

    async def not_a_socket():
        with pytest.raises(ControlSocketError, match="not a socket"):
            await ControlServer(os.path.join(sockdir, "file"), lambda: {}).start()

    asyncio.run(not_a_socket())


_CHILD = textwrap.dedent(
    """
    import os, socket, sys
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(sys.argv[1])
    except PermissionError:
        print("EACCES")
        sys.exit(0)
    s.sendall(b'{"cmd": "status"}\\n')
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    print(data.decode().strip())
    """
)


async def _run_as_nobody(path: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


def test_non_root_refused_by_file_mode(sockdir, snapshot):
    path = os.path.join(sockdir, "run", "c.ctl")

    async def body(server):
        return await _run_as_nobody(path)

    assert _serve(path, snapshot, body=body) == "EACCES"


def test_non_root_refused_by_peer_credentials_when_modes_are_loosened(sockdir, snapshot):
    path = os.path.join(sockdir, "run", "c.ctl")

    async def body(server):
        os.chmod(os.path.dirname(path), 0o755)
        os.chmod(path, 0o666)  # an admin "opening it up for monitoring"
        return await _run_as_nobody(path)

    out = _serve(path, snapshot, body=body)
    reply = json.loads(out)
    assert reply["ok"] is False
    assert "root-only" in reply["error"]
    assert "data" not in reply and "4242" not in out


class _Row(dict):
    """An instance row that can be watched for being freed (a plain dict takes no weakref)."""


class _PartsDaemon:
    """A daemon object like the Runtime: `snapshot()` whole, `snapshot_parts()` row by row."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.made: list = []  # weak references to the rows made so far
        self.alive_when_made: list[int] = []  # rows still alive when each row was made

    def _head(self) -> dict:
        return {"daemon": {"pid": 1, "now": 5.5, "note": "é"}, "instances": None, "scripts": [{"name": "chk"}]}

    def _row(self, k: int) -> _Row:
        if k == self.fail_at:
            raise RuntimeError("instance vanished")
        return _Row(name=f"VI_{k}", vrid=k % 255 + 1, vips=[{"address": f"192.0.2.{k % 250}/32"}],
                    padding="x" * 200, address=socket.AF_INET6)

    def snapshot(self) -> dict:
        head = self._head()
        head["instances"] = [self._row(k) for k in range(self.count)]
        return head

    def snapshot_parts(self):
        import weakref

        def rows():
            for k in range(self.count):
                self.alive_when_made.append(sum(1 for ref in self.made if ref() is not None))
                row = self._row(k)
                self.made.append(weakref.ref(row))
                yield row

        return self._head(), rows()


def test_status_of_many_instances_is_written_row_by_row_with_the_same_bytes(sockdir):
    # 1,000 rows of ~300 characters: several chunks; each row is made only when its turn comes
    # and dropped once written, and the bytes are those of the whole snapshot encoded at once.
    path = os.path.join(sockdir, "p.ctl")
    daemon = _PartsDaemon(1000)
    whole = json.dumps({"ok": True, "data": daemon.snapshot()}, default=str).encode() + b"\n"

    async def main():
        server = ControlServer(path, daemon.snapshot, {})
        await server.start()
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=1 << 24)
            writer.write(b'{"cmd": "status"}\n')
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 10)
            writer.close()
            await writer.wait_closed()
            return line
        finally:
            await server.close()

    line = asyncio.run(main())
    assert line == whole
    assert len(daemon.made) == 1000
    assert max(daemon.alive_when_made) <= 1, daemon.alive_when_made[:20]  # at most the one just written


def test_a_row_that_fails_cuts_the_reply_and_the_server_goes_on(sockdir):
    path = os.path.join(sockdir, "f.ctl")
    daemon = _PartsDaemon(600, fail_at=500)

    async def main():
        server = ControlServer(path, daemon.snapshot, {})
        await server.start()
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=1 << 24)
            writer.write(b'{"cmd": "status"}\n')
            await writer.drain()
            cut = await asyncio.wait_for(reader.read(), 10)  # up to the end: the server hung up
            writer.close()
            daemon.fail_at = None
            after = await _exchange(path, b'{"cmd": "status"}\n')
            return cut, after
        finally:
            await server.close()

    cut, after = asyncio.run(main())
    assert cut.startswith(b'{"ok": true, "data": {') and not cut.endswith(b"\n")
    with pytest.raises(ValueError):
        json.loads(cut)
    assert [r["name"] for r in after[0]["data"]["instances"]] == [f"VI_{k}" for k in range(600)]
