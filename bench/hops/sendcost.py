"""CPU per advert on a real raw socket, three ways (issue 18, development tool).

    PYTHONPATH=$PWD/src:$PWD unshare -n python3 bench/hops/sendcost.py [ADVERTS]

It must run in a network namespace of its own (`unshare -n`): it adds a veth pair vk0/vp0 there
(192.0.2.250/24 on vk0) and refuses to start where any interface but lo exists. One
`VrrpSocket` on vk0 sends 100 prepared adverts (VRIDs 1-100) over and over:

- send_prepared: `VrrpSocket.send_prepared`, one by one, as a steady Master does;
- sendto: the socket's own `sendto` of the same datagrams (no ID written, no counters);
- sendmmsg: one `sendmmsg` (ctypes) per 100 prebuilt messages over the prepared bytearrays,
  after writing each one's next IP ID as `send_prepared` does.

Prints, per mode and twice in turn, the thread's CPU time per advert (CLOCK_THREAD_CPUTIME_ID:
the Python and the kernel's send, fairly stable on a loaded host) and getrusage's user / sys
split, then vp0's counters (every advert arrived).
"""

from __future__ import annotations

import ctypes
import ipaddress
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from vipkeeper.net.vrrp_socket import VrrpSocket
from vipkeeper.vrrp import packet

BATCH = 100
SRC = ipaddress.IPv4Address("192.0.2.250")
GROUP = ipaddress.IPv4Address("224.0.0.18")


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _SockaddrIn(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("port", ctypes.c_uint16), ("addr", ctypes.c_uint32),
                ("zero", ctypes.c_char * 8)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(_Iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def _veth() -> None:
    for cmd in (["ip", "link", "add", "vk0", "type", "veth", "peer", "name", "vp0"],
                ["ip", "addr", "add", f"{SRC}/24", "dev", "vk0"],
                ["ip", "link", "set", "vk0", "up"], ["ip", "link", "set", "vp0", "up"]):
        subprocess.run(cmd, check=True)


def _cost(fn: Callable[[int], None], n: int) -> tuple[float, float, float]:
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.thread_time()
    fn(n)
    t1 = time.thread_time()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return (t1 - t0) / n * 1e6, (r1.ru_utime - r0.ru_utime) / n * 1e6, (r1.ru_stime - r0.ru_stime) / n * 1e6


def main() -> None:
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        sys.exit("sendcost.py: run it in a network namespace of its own (unshare -n)")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    _veth()
    vs = VrrpSocket.open("vk0", socket.AF_INET, src=str(SRC))
    preps = []
    for k in range(BATCH):
        adv = packet.Advertisement(3, k + 1, 200, (ipaddress.IPv4Address(f"192.0.2.{k + 2}"),), 100)
        preps.append(vs.prepare(packet.encode(adv, SRC, GROUP), GROUP))

    def one_by_one(count: int) -> None:
        send = vs.send_prepared
        for _ in range(count // BATCH):
            for prepared in preps:
                send(prepared)

    def plain(count: int) -> None:
        sendto = vs.sock.sendto
        for _ in range(count // BATCH):
            for prepared in preps:
                sendto(prepared[0], prepared[1])

    libc = ctypes.CDLL(None, use_errno=True)
    address = _SockaddrIn(socket.AF_INET, 0, int.from_bytes(GROUP.packed, "little"))
    iovs = (_Iovec * BATCH)()
    msgs = (_Mmsghdr * BATCH)()
    buffers = []  # the prepared bytearrays, seen by ctypes (kept alive here)
    for i, prepared in enumerate(preps):
        buf = (ctypes.c_char * len(prepared[0])).from_buffer(prepared[0])
        buffers.append(buf)
        iovs[i].base, iovs[i].len = ctypes.addressof(buf), len(prepared[0])
        msgs[i].hdr.name, msgs[i].hdr.namelen = ctypes.addressof(address), ctypes.sizeof(address)
        msgs[i].hdr.iov, msgs[i].hdr.iovlen = ctypes.pointer(iovs[i]), 1
    fd = vs.sock.fileno()

    def batched(count: int) -> None:
        ident = 0
        for _ in range(count // BATCH):
            for prepared in preps:
                ident = (ident + 1) & 0xFFFF
                datagram = prepared[0]
                datagram[4] = ident >> 8
                datagram[5] = ident & 0xFF
            sent = libc.sendmmsg(fd, msgs, BATCH, 0)
            if sent != BATCH:
                sys.exit(f"sendmmsg: {sent} of {BATCH} sent, errno {ctypes.get_errno()}")

    for name, fn in (("send_prepared", one_by_one), ("sendto", plain), ("sendmmsg x100", batched)) * 2:
        cpu, user, system = _cost(fn, n)
        print(f"{name:14s} CPU {cpu:5.2f} us (user {user:5.2f} sys {system:5.2f}) per advert ({n} adverts)")
    print(subprocess.run(["ip", "-s", "link", "show", "vp0"], capture_output=True, text=True, check=False).stdout)


if __name__ == "__main__":
    main()
