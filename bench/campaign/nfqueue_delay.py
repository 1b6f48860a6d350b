"""A real link delay without sch_netem: hold queued packets in userspace (nfnetlink_queue).

This kernel has no sch_netem and nftables' own `queue` statement is not built (NFT_QUEUE), but
the netfilter queue (CONFIG_NETFILTER_NETLINK_QUEUE) and iptables' NFQUEUE target are. So a
delay is: iptables rules send the node's packets to a queue, and `NfqueueDelay` reads each
queued packet's id over a NETLINK_NETFILTER socket and accepts it `delay` seconds later.

The protocol (linux/netfilter/nfnetlink.h, nfnetlink_queue.h), as spoken here:
- every message is a netlink header, then `struct nfgenmsg` {u8 family, u8 version, be16
  res_id = queue number}, then attributes; the type is (NFNL_SUBSYS_QUEUE=3) << 8 | message.
- NFQNL_MSG_CONFIG (2): NFQA_CFG_CMD {u8 cmd, u8 pad, be16 pf} with NFQNL_CFG_CMD_BIND binds
  the queue number to this socket (one socket per queue number and network namespace);
  NFQA_CFG_PARAMS {be32 copy_range, u8 copy_mode} with NFQNL_COPY_META: only metadata, the
  payload stays in the kernel; NFQA_CFG_FLAGS/MASK with NFQA_CFG_F_FAIL_OPEN: a full queue
  accepts instead of dropping.
- NFQNL_MSG_PACKET (0) comes in per packet: NFQA_PACKET_HDR {be32 packet_id, be16 hw_protocol,
  u8 hook}.
- NFQNL_MSG_VERDICT (1) goes out: NFQA_VERDICT_HDR {be32 verdict, be32 id}; NF_ACCEPT = 1.
  The kernel looks the id up in the queue, so verdicts may come in any order.

Lifetime: the socket is made inside the node's network namespace (queues are per namespace)
and read on one thread. `stop()` accepts every packet it still holds and every one still
waiting in the socket, then closes it. Remove the rules that feed the queue *before* stop():
when the socket closes, the kernel drops what is still queued to it; with the rules' NFQUEUE
`--queue-bypass`, a packet that finds no reader passes, so nothing is lost once the reader is
gone (a killed runner included: the kernel closes its socket). Remove the rules by flushing
the chains, never by deleting them (`ruleset`): a deleted base chain unregisters its hook, and
the kernel drops every packet queued in that namespace (the namespace test caught exactly that).

The hold is measured from when the packet is read, so scheduling latency adds to it (a few ms
on a loaded machine); `max_late` says by how much the release came after its due time.
"""

from __future__ import annotations

import collections
import errno
import os
import select
import socket
import struct
import threading
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQA_CFG_F_FAIL_OPEN = 1
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
SOL_NETLINK = 270
DEFAULT_QUEUE = 7
QUEUE_MAXLEN = 4096

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid (host byte order)
_NFGENMSG = struct.Struct("!BBH")  # family, version, res_id (network byte order)
_NLATTR = struct.Struct("=HH")


class NfqueueError(OSError):
    """The queue could not be bound or configured; the message says which step."""


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attr(kind: int, payload: bytes) -> bytes:
    raw = _NLATTR.pack(_NLATTR.size + len(payload), kind) + payload
    return raw + b"\0" * (_align(len(raw)) - len(raw))


def _message(msg: int, queue: int, attrs: bytes, flags: int, seq: int) -> bytes:
    body = _NFGENMSG.pack(socket.AF_UNSPEC, 0, queue) + attrs
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), NFNL_SUBSYS_QUEUE << 8 | msg, flags, seq, 0) + body


def config_message(queue: int, seq: int, cmd: int | None = None, copy_mode: int | None = None,
                   fail_open: bool = False, maxlen: int | None = None) -> bytes:
    """One NFQNL_MSG_CONFIG request (with an ACK asked for)."""
    attrs = b""
    if cmd is not None:
        attrs += _attr(NFQA_CFG_CMD, struct.pack("!BBH", cmd, 0, socket.AF_INET))
    if copy_mode is not None:
        attrs += _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, copy_mode))
    if maxlen is not None:
        attrs += _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen))
    if fail_open:
        attrs += _attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
        attrs += _attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
    return _message(NFQNL_MSG_CONFIG, queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq)


def verdict_message(queue: int, packet_id: int, verdict: int = NF_ACCEPT, seq: int = 0) -> bytes:
    return _message(NFQNL_MSG_VERDICT, queue, _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)),
                    NLM_F_REQUEST, seq)


def parse(data: bytes) -> list[tuple[str, int, int]]:
    """Netlink messages in one datagram -> [("packet", queue, packet_id) | ("error", seq, errno)]."""
    out: list[tuple[str, int, int]] = []
    off = 0
    while off + _NLMSGHDR.size <= len(data):
        length, mtype, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size or off + length > len(data):
            break
        if mtype == NLMSG_ERROR and length >= _NLMSGHDR.size + 4:
            (err,) = struct.unpack_from("=i", data, off + _NLMSGHDR.size)
            out.append(("error", seq, -err))
        elif mtype == (NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET) and length >= _NLMSGHDR.size + _NFGENMSG.size:
            _family, _version, queue = _NFGENMSG.unpack_from(data, off + _NLMSGHDR.size)
            attr = off + _NLMSGHDR.size + _NFGENMSG.size
            while attr + _NLATTR.size <= off + length:
                alen, akind = _NLATTR.unpack_from(data, attr)
                if alen < _NLATTR.size:
                    break
                if akind & NLA_TYPE_MASK == NFQA_PACKET_HDR and alen >= _NLATTR.size + 4:
                    (packet_id,) = struct.unpack_from("!I", data, attr + _NLATTR.size)
                    out.append(("packet", queue, packet_id))
                    break
                attr += _align(alen)
        off += _align(length)
    return out


class NfqueueDelay:
    """Accept every packet of queue `queue` in namespace `ns` (None: the caller's) `delay` s late."""

    def __init__(self, ns: str | None, delay: float, queue: int = DEFAULT_QUEUE) -> None:
        self.ns, self.delay, self.queue = ns, delay, queue
        self.sock: socket.socket | None = None
        self.received = 0
        self.accepted = 0
        self.max_late = 0.0  # how far after its due time a release went out, seconds
        self.errors: list[str] = []
        self._held: collections.deque[tuple[float, int]] = collections.deque()
        self._got = threading.Condition()  # notified per packet read (wait_received)
        self._seq = 0
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    # -- lifetime ------------------------------------------------------------------------
    def start(self) -> NfqueueDelay:
        """Bind the queue (raises NfqueueError if the kernel says no) and start holding packets."""

        def make() -> socket.socket:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)

        if self.ns is None:
            sock = make()
        else:
            from vipkeeper.net.netns import call_in

            sock = call_in(self.ns, make)
        self.sock = sock
        try:
            sock.bind((0, 0))
            try:  # root may go past rmem_max: a burst of queued packets must not overflow us
                sock.setsockopt(socket.SOL_SOCKET, 33, 1 << 22)  # SO_RCVBUFFORCE
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            sock.settimeout(2.0)
            self._config("bind", cmd=NFQNL_CFG_CMD_BIND)
            self._config("copy mode", copy_mode=NFQNL_COPY_META, maxlen=QUEUE_MAXLEN)
            self._config("fail-open", fail_open=True)
            sock.setblocking(False)
            self._wake_r, self._wake_w = os.pipe()
        except BaseException:
            sock.close()
            self.sock = None
            raise
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"nfqueue-delay-{self.queue}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Accept everything still held or waiting, unbind, close. Idempotent."""
        if self.sock is None:
            return
        self._stop.set()
        if self._wake_w >= 0:
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(5.0)
        if self._thread is None or not self._thread.is_alive():
            self._close()

    def wait_received(self, count: int, timeout: float) -> bool:
        """Wait until `count` packets in all have been queued to us; False on timeout."""
        with self._got:
            return self._got.wait_for(lambda: self.received >= count, timeout)

    def __enter__(self) -> NfqueueDelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------
    def _config(self, what: str, **kw: object) -> None:
        assert self.sock is not None
        self._seq += 1
        self.sock.send(config_message(self.queue, self._seq, **kw))  # type: ignore[arg-type]
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            for kind, a, b in parse(self.sock.recv(65536)):
                if kind == "error" and a == self._seq:
                    if b:
                        raise NfqueueError(b, f"nfnetlink_queue {what} (queue {self.queue}, netns {self.ns}): {os.strerror(b)}")
                    return
        raise NfqueueError(errno.ETIMEDOUT, f"nfnetlink_queue {what}: no answer from the kernel")

    def _read(self, now: float) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # the kernel could not tell us about some packets
                    self.errors.append(f"{now:.3f} ENOBUFS")
                    continue
                raise
            for kind, a, b in parse(data):
                if kind == "packet":
                    self._held.append((now + self.delay, b))
                    with self._got:
                        self.received += 1
                        self._got.notify_all()
                elif b:  # an error answer to a verdict (the packet was gone)
                    self.errors.append(f"{now:.3f} {os.strerror(b)}")

    def _accept(self, packet_id: int, late: float) -> None:
        assert self.sock is not None
        try:
            self.sock.send(verdict_message(self.queue, packet_id))
        except OSError as exc:
            self.errors.append(f"verdict {packet_id}: {exc}")
            return
        self.accepted += 1
        self.max_late = max(self.max_late, late)

    def _run(self) -> None:
        assert self.sock is not None
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                while self._held and self._held[0][0] <= now:
                    due, packet_id = self._held.popleft()
                    self._accept(packet_id, now - due)
                timeout = max(0.0, self._held[0][0] - now) if self._held else None
                ready, _, _ = select.select([self.sock, self._wake_r], [], [], timeout)
                if self.sock in ready:
                    self._read(time.monotonic())
        except Exception as exc:  # recorded; stop() still accepts what is held
            self.errors.append(f"reader: {exc!r}")
        finally:
            self._read(time.monotonic())
            while self._held:
                _due, packet_id = self._held.popleft()
                self._accept(packet_id, 0.0)

    def _close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.setblocking(True)
                self.sock.settimeout(1.0)
                self._seq += 1
                self.sock.send(config_message(self.queue, self._seq, cmd=NFQNL_CFG_CMD_UNBIND))
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1


# The iptables that works here (Debian package `iptables`): iptables-nft expresses NFQUEUE as the
# xtables target through NFT_COMPAT (`nft --debug=netlink` shows `target name NFQUEUE rev 3`),
# not as nft's own `queue` expression, which this kernel lacks. iptables-legacy works too, but
# serialises every namespace's changes on one global lock file; nft changes are transactions.
# --noflush: see ruleset().
IPTABLES_RESTORE = ("iptables-nft-restore", "--noflush")


def iptables_rules(queue: int = DEFAULT_QUEUE, ifname: str = "eth0") -> list[list[str]]:
    """The rule specs (for `-A`/`-D`) that queue all IPv4 through `ifname`, both directions."""
    target = ["-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
    return [["INPUT", "-i", ifname, *target], ["OUTPUT", "-o", ifname, *target]]


def ruleset(on: bool, queue: int = DEFAULT_QUEUE, ifname: str = "eth0") -> str:
    """Input for `IPTABLES_RESTORE` that sets the namespace's INPUT and OUTPUT rules in one
    transaction: the queue rules (on) or none (off). Idempotent.

    The chains are flushed, never deleted (`--noflush`, `-F`): deleting a base chain unregisters
    its netfilter hook, and the kernel then drops every packet still queued in that namespace
    (held packets would be lost at revert instead of released)."""
    lines = ["*filter", "-F INPUT", "-F OUTPUT"]
    if on:
        lines += ["-A " + " ".join(spec) for spec in iptables_rules(queue, ifname)]
    return "\n".join(lines + ["COMMIT", ""])
