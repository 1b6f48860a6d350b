"""The metrics listener's limits (issue 20 #3) and listen forms (issue 15), over real sockets."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from vipkeeper.control.metrics import ListenError, MetricsServer, parse_listen

SNAP = {"daemon": {"version": "t"}, "instances": []}


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


async def _get(host: str, port: int) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /metrics HTTP/1.0\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def test_parse_listen_any_forms():
    assert parse_listen(":9650") == ("", 9650)
    assert parse_listen("[::]:9650") == ("::", 9650)
    assert parse_listen("0.0.0.0:9650") == ("0.0.0.0", 9650)
    for bad in (":", ":x", "*:9650", "[::]", "[::]9650"):
        with pytest.raises(ListenError):
            parse_listen(bad)


@pytest.mark.parametrize("listen", [":0", "[::]:0"])
def test_any_address_serves_both_families(listen):
    if not _has_ipv6_loopback():
        pytest.fail("this host has no IPv6 loopback: the dual-stack listener cannot be shown")

    async def main():
        server = MetricsServer(listen, lambda: SNAP, process_metrics=False)
        await server.start()
        try:
            (_, port), = {(h, p) for h, p in server.addresses}
            return await _get("127.0.0.1", port), await _get("::1", port)
        finally:
            await server.close()

    v4, v6 = asyncio.run(main())
    assert v4.startswith(b"HTTP/1.0 200 OK") and v6.startswith(b"HTTP/1.0 200 OK")


def test_connections_beyond_the_cap_are_closed_at_once_and_counted():
    async def main():
        server = MetricsServer("127.0.0.1:0", lambda: SNAP, process_metrics=False, max_clients=2)
        await server.start()
        try:
            host, port = server.addresses[0]
            idle = [await asyncio.open_connection(host, port) for _ in range(2)]
            await asyncio.sleep(0.05)  # let the server accept them (bounded by the next wait)
            reader, writer = await asyncio.open_connection(host, port)
            started = time.monotonic()
            extra = await asyncio.wait_for(reader.read(), 2)  # closed by the server: EOF
            closed_in = time.monotonic() - started
            writer.close()
            refused = server.refused
            for _, w in idle:
                w.close()
            deadline = time.monotonic() + 5
            while len(server._clients) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            after = await _get(host, port)
            return extra, closed_in, refused, after
        finally:
            await server.close()

    extra, closed_in, refused, after = asyncio.run(main())
    assert extra == b"" and closed_in < 2 and refused == 1
    assert after.startswith(b"HTTP/1.0 200 OK")


def test_a_client_that_stalls_is_cut_off_at_the_deadline():
    async def main():
        server = MetricsServer("127.0.0.1:0", lambda: SNAP, process_metrics=False, client_deadline=0.5)
        await server.start()
        try:
            host, port = server.addresses[0]
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /metr")  # and never the rest (HEAD_TIMEOUT alone would be 5 s)
            await writer.drain()
            started = time.monotonic()
            data = await asyncio.wait_for(reader.read(), 4)
            return data, time.monotonic() - started, len(server._clients)
        finally:
            await server.close()

    data, took, clients = asyncio.run(main())
    assert data == b"" and took < 2.0 and clients == 0
