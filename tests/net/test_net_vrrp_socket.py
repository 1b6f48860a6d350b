"""VRRP raw sockets between two lab nodes: what leaves A arrives at B with the kernel's facts."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import struct

import pytest

from vipkeeper.lab.topology import Lan, Topology
from vipkeeper.net.vrrp_socket import IPPROTO_VRRP, RawReceived, VrrpSocket
from vipkeeper.vrrp.packet import internet_checksum

pytestmark = pytest.mark.net

PAYLOAD = bytes.fromhex("3134c8010032a198c000026e")  # any bytes: the shell does not judge VRRP


def _open(in_ns, node, family, **kw) -> VrrpSocket:
    return in_ns(node.ns, lambda: VrrpSocket.open(node.ifname, family, **kw))


async def _next(queue: asyncio.Queue[RawReceived]) -> RawReceived:
    return await asyncio.wait_for(queue.get(), 2.0)


def _listen(sock: VrrpSocket) -> asyncio.Queue[RawReceived]:
    queue: asyncio.Queue[RawReceived] = asyncio.Queue()
    sock.start(queue.put_nowait)
    return queue


def test_ipv4_multicast_arrives_with_ttl_255(lan: Lan, in_ns) -> None:
    async def main() -> None:
        with _open(in_ns, lan["a"], socket.AF_INET) as a, _open(in_ns, lan["b"], socket.AF_INET) as b, \
                _open(in_ns, lan["b"], socket.AF_INET, unicast=True) as b_unicast:
            own, heard, heard_unicast = _listen(a), _listen(b), _listen(b_unicast)
            assert a.src == ipaddress.ip_address("192.0.2.1")
            assert a.send(PAYLOAD)
            got = await _next(heard)
            assert (got.src, got.dst, got.hop_limit, got.ifname) == (
                ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("224.0.0.18"), 255, "eth0")
            assert got.payload == PAYLOAD
            # keepalived's header: TOS 0xc0, ID from 1, DF clear, protocol 112, header checksum valid.
            assert got.data[1] == 0xC0 and struct.unpack_from("!HH", got.data, 4) == (1, 0)
            assert got.data[9] == IPPROTO_VRRP
            assert own.empty(), "multicast loopback must be off"
            assert heard_unicast.empty(), "a unicast socket must not see multicast adverts"
            assert b.received == 1 and a.sent == 1 and b.receive_errors == 0
            # a prepared datagram (a Master's advert, built once) carries the next ID, and the
            # kernel fills in the header checksum the prepared header leaves stale
            assert a.send_prepared(a.prepare(PAYLOAD))
            got = await _next(heard)
            assert struct.unpack_from("!HH", got.data, 4) == (2, 0) and got.payload == PAYLOAD
            assert internet_checksum(got.data[:20]) == 0

    asyncio.run(main())


def test_ipv4_unicast_arrives_with_ttl_255(lan: Lan, in_ns) -> None:
    async def main() -> None:
        with _open(in_ns, lan["a"], socket.AF_INET, unicast=True, src="192.0.2.1") as a, \
                _open(in_ns, lan["b"], socket.AF_INET, unicast=True) as b:
            heard = _listen(b)
            assert a.send(PAYLOAD, "192.0.2.2")
            got = await _next(heard)
            assert (str(got.src), str(got.dst), got.hop_limit) == ("192.0.2.1", "192.0.2.2", 255)
            assert got.payload == PAYLOAD

    asyncio.run(main())


def test_ipv6_multicast_arrives_from_link_local_with_hop_limit_255(topology: Topology, lan: Lan, in_ns) -> None:
    async def main() -> None:
        with _open(in_ns, lan["a"], socket.AF_INET6) as a, _open(in_ns, lan["b"], socket.AF_INET6) as b:
            own, heard = _listen(a), _listen(b)
            assert a.src == topology.link_local(lan["a"])
            assert a.send(PAYLOAD)
            got = await _next(heard)
            assert (got.src, str(got.dst), got.hop_limit) == (a.src, "ff02::12", 255)
            assert got.payload == PAYLOAD and got.data == PAYLOAD
            assert own.empty()

    asyncio.run(main())


def test_ipv6_unicast_arrives_with_hop_limit_255(lan: Lan, in_ns) -> None:
    async def main() -> None:
        with _open(in_ns, lan["a"], socket.AF_INET6, unicast=True, src="2001:db8::1") as a, \
                _open(in_ns, lan["b"], socket.AF_INET6, unicast=True) as b:
            heard = _listen(b)
            assert a.send(PAYLOAD, "2001:db8::2")
            got = await _next(heard)
            assert (str(got.src), str(got.dst), got.hop_limit) == ("2001:db8::1", "2001:db8::2", 255)

    asyncio.run(main())


def test_ttl_1_is_reported_as_received(lan: Lan, in_ns) -> None:
    """A forged or routed advert keeps its real TTL; the shell hands it on for the core to drop."""

    def crafted_v4() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_VRRP)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        return s

    def crafted_v6() -> socket.socket:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_VRRP)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        return s

    async def main() -> None:
        with _open(in_ns, lan["b"], socket.AF_INET, unicast=True) as b4, _open(in_ns, lan["b"], socket.AF_INET6) as b6, \
                in_ns(lan["a"].ns, crafted_v4) as raw4, in_ns(lan["a"].ns, crafted_v6) as raw6:
            heard4, heard6 = _listen(b4), _listen(b6)
            raw4.sendto(PAYLOAD, ("192.0.2.2", 0))
            got = await _next(heard4)
            assert got.hop_limit == 1 and got.payload == PAYLOAD
            raw6.sendto(PAYLOAD, ("ff02::12", 0, 0, in_ns(lan["a"].ns, lambda: socket.if_nametoindex("eth0"))))
            got6 = await _next(heard6)
            assert got6.hop_limit == 1 and got6.payload == PAYLOAD

    asyncio.run(main())


def test_partition_and_blocked_vrrp_keep_adverts_from_b(topology: Topology, lan: Lan, in_ns) -> None:
    async def main() -> None:
        with _open(in_ns, lan["a"], socket.AF_INET) as a, _open(in_ns, lan["b"], socket.AF_INET) as b, \
                _open(in_ns, lan["client"], socket.AF_INET) as client:
            heard_b, heard_client = _listen(b), _listen(client)
            topology.partition(lan["a"], lan["b"])
            assert a.send(PAYLOAD)
            assert str((await _next(heard_client)).src) == "192.0.2.1"  # A still reaches the client
            assert client.send(PAYLOAD)
            assert str((await _next(heard_b)).src) == "192.0.2.200"
            assert heard_b.empty(), "B heard A across the partition"
            topology.heal()
            topology.block_vrrp(lan["a"])
            assert a.send(PAYLOAD) and client.send(PAYLOAD)
            assert str((await _next(heard_b)).src) == "192.0.2.200"
            assert heard_client.empty(), "A's VRRP passed the block"
            topology.block_vrrp(lan["a"], on=False)
            assert a.send(PAYLOAD)
            assert str((await _next(heard_b)).src) == "192.0.2.1"

    asyncio.run(main())


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_a_socket_on_a_recreated_interface_fails_every_send_and_says_so(topology: Topology, lan: Lan,
                                                                        in_ns, family: int) -> None:
    """Why the daemon reopens sockets (issue 20 finding 2): after the interface is deleted and
    created again under the same name, the old socket is bound to an index that is gone, and
    nothing it sends leaves. `failing` and `last_send_error` let the owner see it."""
    node = lan["a"]
    sock = _open(in_ns, node, family)
    try:
        assert sock.send(PAYLOAD) and sock.failing == 0
        topology.delete_link(node)
        topology.recreate_link(node)
        assert not sock.send(PAYLOAD)
        assert not sock.send(PAYLOAD)
        assert sock.failing == 2 and sock.send_errors == 2
        assert sock.last_send_error is not None
        assert sum(n for reason, n in sock.errors.items() if reason.startswith("send_")) == 2
        fresh = _open(in_ns, node, family)
        try:
            assert fresh.ifindex != sock.ifindex
            assert fresh.send(PAYLOAD) and fresh.failing == 0
        finally:
            fresh.close()
    finally:
        sock.close()


def test_ipv4_source_is_never_a_vip(topology: Topology, lan: Lan, in_ns) -> None:
    """The interface's first address that is not a VIP (`not_from`), whatever the kernel's
    primary (a VIP put back on a flushed interface is primary); none but VIPs: EADDRNOTAVAIL."""
    from vipkeeper.net.vrrp_socket import VrrpSocketError, interface_source, ipv4_addresses

    node = lan["a"]
    vip = ipaddress.ip_address("192.0.2.100")

    def ip(*args: str) -> None:
        topology.run(node.ns, ["ip", *args])

    ip("-4", "addr", "flush", "dev", node.ifname)
    ip("addr", "add", "192.0.2.100/24", "dev", node.ifname)
    ip("addr", "add", "192.0.2.1/24", "dev", node.ifname)
    ip("addr", "add", "198.51.100.1/24", "dev", node.ifname)
    index = in_ns(node.ns, lambda: socket.if_nametoindex(node.ifname))
    assert in_ns(node.ns, lambda: ipv4_addresses(index)) == [ipaddress.ip_address(a) for a in (
        "192.0.2.100", "198.51.100.1", "192.0.2.1")]  # primaries first, then 192.0.2.100's secondary
    assert in_ns(node.ns, lambda: ipv4_addresses(index + 1000)) == []
    with _open(in_ns, node, socket.AF_INET) as plain, _open(in_ns, node, socket.AF_INET, not_from={vip}) as a:
        assert plain.src == vip  # the kernel's primary: what the daemon used to send from
        assert a.src == ipaddress.ip_address("198.51.100.1")
    # kept while the interface still has it, else the first that is not a VIP
    keep = ipaddress.ip_address("192.0.2.1")
    assert in_ns(node.ns, lambda: interface_source(node.ifname, socket.AF_INET, {vip}, keep)) == keep
    ip("addr", "del", "192.0.2.1/24", "dev", node.ifname)
    ip("addr", "del", "198.51.100.1/24", "dev", node.ifname)
    with pytest.raises(VrrpSocketError) as raised:
        _open(in_ns, node, socket.AF_INET, not_from={vip})
    assert raised.value.errno == errno.EADDRNOTAVAIL
    assert "no IPv4 address to send VRRP from" in str(raised.value)
