"""Observer that runs *inside* a lab namespace and timestamps what it sees, one line per event.

Started by the bench as `ip netns exec NS python3 bench/watch.py MODE...`; it never sends
anything. Times are CLOCK_REALTIME seconds (the same clock the bench reads before it injects a
failure), taken from the kernel where the kernel offers one (SO_TIMESTAMPNS on AF_PACKET):

    ADDR <ts> new|del <ifindex> <address>/<prefix>      netlink address events
    ARP <ts> <sender-ip> <sender-mac>                   gratuitous ARPs only
    VRRP <ts> <ifname> <src> <vrid> <priority>          VRRP adverts (v4 and v6)
    FIFO <ts> <line>                                    lines written to a notify fifo
    READY                                               every socket is open

With `--dump FILE --duration S` VRRP frames are only collected and written as JSON at the end
(for 10,000 adverts per second a line each would cost more than the capture).
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
SO_TIMESTAMPNS = 35
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_NEWADDR, RTM_DELADDR = 20, 21
IFA_ADDRESS, IFA_LOCAL = 1, 2
CMSG_SPACE = socket.CMSG_SPACE(16)


def emit(*fields: object) -> None:
    sys.stdout.write(" ".join(str(f) for f in fields) + "\n")
    sys.stdout.flush()


def kernel_time(ancdata: list) -> float:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9
    return time.time()


def packet_socket(proto: int) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    return sock


def addr_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
    return sock


def read_addr(sock: socket.socket) -> None:
    data = sock.recv(65536)
    now = time.time()
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            family, prefix, _flags, _scope, index = struct.unpack_from("=BBBBI", data, off + 16)
            attr = off + 24
            address = local = None
            while attr + 4 <= off + length:
                alen, atype = struct.unpack_from("=HH", data, attr)
                if alen < 4:
                    break
                raw = data[attr + 4: attr + alen]
                if family in (socket.AF_INET, socket.AF_INET6) and atype in (IFA_ADDRESS, IFA_LOCAL):
                    text = socket.inet_ntop(family, raw)
                    if atype == IFA_LOCAL:
                        local = text
                    else:
                        address = text
                attr += (alen + 3) & ~3
            shown = local or address
            if shown:
                emit("ADDR", f"{now:.6f}", "new" if kind == RTM_NEWADDR else "del", index, f"{shown}/{prefix}")
        off += (length + 3) & ~3


def read_arp(sock: socket.socket) -> None:
    frame, anc, _flags, _addr = sock.recvmsg(2048, CMSG_SPACE)
    ts = kernel_time(anc)
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return
    sender_ip, target_ip = frame[28:32], frame[38:42]
    op = struct.unpack_from("!H", frame, 20)[0]
    if op == 1 and sender_ip == target_ip:
        emit("ARP", f"{ts:.6f}", socket.inet_ntoa(sender_ip), frame[22:28].hex(":"))


def parse_vrrp(frame: bytes) -> tuple[str, int, int] | None:
    """(source, vrid, priority) of a VRRP advert in an Ethernet frame, or None."""
    ethertype = frame[12:14]
    if ethertype == b"\x08\x00" and len(frame) >= 34 + 4 and frame[23] == 112:
        ihl = (frame[14] & 0x0F) * 4
        body = 14 + ihl
        return socket.inet_ntoa(frame[26:30]), frame[body + 1], frame[body + 2]
    if ethertype == b"\x86\xdd" and len(frame) >= 54 + 4 and frame[20] == 112:
        return socket.inet_ntop(socket.AF_INET6, frame[22:38]), frame[55], frame[56]
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", action="store_true")
    ap.add_argument("--arp", action="store_true")
    ap.add_argument("--vrrp", action="store_true")
    ap.add_argument("--fifo", default=None)
    ap.add_argument("--dump", default=None)
    ap.add_argument("--duration", type=float, default=None)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    sel = selectors.DefaultSelector()
    collected: dict[str, list[float]] = {}
    if args.addr:
        sel.register(addr_socket(), selectors.EVENT_READ, "addr")
    if args.arp:
        sel.register(packet_socket(ETH_P_ARP), selectors.EVENT_READ, "arp")
    if args.vrrp:
        sel.register(packet_socket(ETH_P_ALL), selectors.EVENT_READ, "vrrp")
    fifo_fd = None
    pending = b""
    if args.fifo:
        # O_RDWR: never blocks in open and never sees EOF when a daemon restarts.
        fifo_fd = os.open(args.fifo, os.O_RDWR | os.O_NONBLOCK)
        sel.register(fifo_fd, selectors.EVENT_READ, "fifo")
    emit("READY")
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        while True:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                break
            for key, _ in sel.select(timeout):
                kind = key.data
                if kind == "addr":
                    read_addr(key.fileobj)  # type: ignore[arg-type]
                elif kind == "arp":
                    read_arp(key.fileobj)  # type: ignore[arg-type]
                elif kind == "vrrp":
                    sock = key.fileobj
                    frame, anc, _flags, addr = sock.recvmsg(2048, CMSG_SPACE)  # type: ignore[union-attr]
                    if addr[2] == socket.PACKET_OUTGOING:
                        continue
                    found = parse_vrrp(frame)
                    if found is None:
                        continue
                    ts = kernel_time(anc)
                    ifname = addr[0]
                    if args.dump:
                        collected.setdefault(f"{ifname} {found[0]} {found[1]}", []).append(ts)
                    else:
                        emit("VRRP", f"{ts:.6f}", ifname, found[0], found[1], found[2])
                elif kind == "fifo":
                    now = time.time()
                    try:
                        pending += os.read(fifo_fd, 65536)  # type: ignore[arg-type]
                    except BlockingIOError:
                        continue
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        emit("FIFO", f"{now:.6f}", line.decode(errors="replace"))
    except KeyboardInterrupt:
        pass
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump(collected, f)
        emit("DUMPED", len(collected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
