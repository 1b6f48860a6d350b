"""Virtual IP addresses through netlink, and the link state that track_interface watches.

Rules:
- Adding an address that is already there is not an error; removing one that is gone is not an
  error. Both say whether they changed anything.
- An AddressOwner removes only addresses it owns: those it added, those it was asked to add and
  found already there (a Master takes over a VIP that exists when it needs it: left by a daemon
  that died, or added by hand; it must not stay behind when the Master steps down), and those
  `claim()`ed (keepalived's startup cleanup of leftover VIPs). An address nobody asked us for
  (an admin's own) is never taken away.
- Ownership ends only when the kernel confirms the address is gone: an acknowledged delete, a
  delete answered "not there", or an RTM_DELADDR (`forget`). A delete the kernel refuses keeps
  the address owned and pending; `retry_removals()` tries again (the runtime calls it on a timer).
- IPv6 VIPs are added with IFA_F_NODAD: a VIP must answer at once after failover, and the peer
  that held it a moment ago would make DAD fail.
- Adding and removing are synchronous (net/address_requests.py): the kernel carries out an
  rtnetlink request inside our send() and has queued its ack before the call returns, so a VIP
  change costs one send and one recv, with no await between a new Master's first advert and its
  VIP. The async `add`/`remove` remain for callers that await; they do the same.
- Removing a VIP never takes an admin's address with it. When the VIP is an interface's primary
  IPv4 address (an admin's flush left it alone, or it came before the admin's own), the kernel
  deletes the other addresses of its subnet with it unless promote_secondaries is set. Before its
  first IPv4 delete on an interface (each new index of that name again) the owner sets
  promote_secondaries=1 there, and puts the old value back at close, after release_all. keepalived
  2.2.7 does so only for instances configured with `promote_secondaries`; without it, removing a
  leftover VIP deleted the node's own address and left it with nothing to send adverts from.
- Dumps (start-up cleanup, `present`) go over the same socket: rare, and off the failover path.
- No link dump on the hot path: the interface index comes from one SIOCGIFINDEX ioctl on the
  request socket, asked each time (a re-created interface has a new index). It needs no new
  descriptor: glibc's if_nametoindex opens a socket, and a daemon out of descriptors read its
  failure as "no such interface" and forgot a VIP it should have removed.
- LinkWatcher subscribes to RTMGRP_LINK and the IPv4/IPv6 address groups on a plain netlink
  socket read by loop.add_reader and decoded by address_requests; it subscribes first and reads
  the current state afterwards, so no change can fall between the two. On ENOBUFS (events lost)
  it reports every link afresh and tells the address callback to re-check (None).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import ipaddress
import os
import socket
import struct
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any, Callable

from vipkeeper.net.address_requests import (
    RTM_DELADDR,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
    AddressSocket,
    address_message,
    link_dump_request,
    parse_address,
    parse_link,
    route_messages,
)
from vipkeeper.net.sysctl import read_sysctl, write_sysctl  # at import, not on a delete: a VIP
# deleted while the daemon is short of file descriptors must not need a module file opened
# (issue 20's fd mode: the lazy import failed with EMFILE and the Master kept its VIP)
from vipkeeper.records import factory, record

IFA_F_NODAD = 0x02
IFF_UP = 0x1
IFF_RUNNING = 0x40
SIOCGIFFLAGS = 0x8913
SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
NETLINK_ROUTE = 0

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class AddressError(OSError):
    """Netlink refused a change for a reason other than 'already there' / 'already gone'."""


class _VipKey:
    __slots__ = ("_key",)  # Vip.key once computed (not a field: not compared, shown or pickled)


@record(frozen=True, slots=True)
class Vip(_VipKey):
    """One virtual address as keepalived's virtual_ipaddress line describes it.

    Slotted (a daemon holds one per VIP: issue 18, memory at a thousand instances); `key` is
    computed once and kept in a slot of its own, and `ip` is the address object inside it, one
    for every user (the conflict checks, the announcements)."""

    ifname: str
    address: Interface
    broadcast: ipaddress.IPv4Address | None = None
    scope: int = 0
    label: str | None = None

    @classmethod
    def make(
        cls,
        ifname: str,
        address: str | Interface,
        broadcast: str | None = None,
        scope: int | str = "global",
        label: str | None = None,
    ) -> Vip:
        """From text; a bare address gets /32 or /128, the way keepalived reads it."""
        try:
            # the configuration's own object when it is one (one per VIP, not two; immutable)
            iface = address if isinstance(address, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)) \
                else ipaddress.ip_interface(address)
        except ValueError:
            raise AddressError(errno.EINVAL, f"not an address: {address!r}") from None
        if isinstance(scope, str):
            if scope not in SCOPES:
                raise AddressError(errno.EINVAL, f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
            scope = SCOPES[scope]
        brd = None
        if broadcast is not None:
            if iface.version != 4:
                raise AddressError(errno.EINVAL, f"{address}: brd is for IPv4 addresses")
            brd = ipaddress.IPv4Address(broadcast)
        return cls(ifname, iface, brd, scope, label)

    @property
    def key(self) -> tuple[str, Any, int]:
        """What the kernel tells addresses apart by. Kept once computed (the maintenance pass
        asks for every VIP of every Master each second; `address.ip` is a new object per call)."""
        try:
            return self._key
        except AttributeError:
            key = (self.ifname, self.address.ip, self.address.network.prefixlen)
            object.__setattr__(self, "_key", key)
            return key

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address without its prefix: equal to `address.ip`, the same object every time."""
        return self.key[1]

    def __str__(self) -> str:
        return f"{self.address.with_prefixlen} dev {self.ifname}"


@record
class AddressOwner:
    """Adds and removes VIPs and remembers which are its own.

    Works in the current network namespace (the daemon's, after netns.enter), or in `netns` when
    given (tests and the lab, which stay in the initial namespace).
    """

    netns: str | None = None
    _owned: dict[tuple[str, Any, int], Vip] = factory(dict)
    _pending: dict[tuple[str, Any, int], Vip] = factory(dict)
    _requests: AddressSocket | None = None
    # How many owned addresses were given up so far (forget): a set of keys found owned stays
    # owned while this is unchanged (adds never un-own), so a check can be skipped (issue 18)
    removals: int = 0
    # promote_secondaries set by us: interface -> (its index then, the value before)
    _promoted: dict[str, tuple[int, str]] = factory(dict)

    async def __aenter__(self) -> AddressOwner:
        self.open_requests()
        return self

    def open_requests(self) -> None:
        if self._requests is None:
            if self.netns is None:
                self._requests = AddressSocket()
            else:
                from vipkeeper.net.netns import call_in

                self._requests = call_in(self.netns, AddressSocket)

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._requests is not None:
            self._restore_promote()
            self._requests.close()
            self._requests = None

    def _sysctl(self, fn: Callable[..., Any], *args: str) -> Any:
        if self.netns is None:
            return fn(*args)
        from vipkeeper.net.netns import call_in

        return call_in(self.netns, lambda: fn(*args))

    def _promote_secondaries(self, ifname: str, index: int) -> None:
        """promote_secondaries=1 on `ifname` before an IPv4 delete there (module rules); once
        per index of the name."""
        done = self._promoted.get(ifname)
        if done is not None and done[0] == index:
            return
        before = self._sysctl(read_sysctl, "ipv4", ifname, "promote_secondaries")
        if before is None:  # no such sysctl readable here (no /proc/sys): nothing to keep
            self._promoted[ifname] = (index, "1")
            return
        if before != "1":
            self._sysctl(write_sysctl, "ipv4", ifname, "promote_secondaries", "1")
        # the value to restore is the admin's: a later index of the same name starts at the default
        self._promoted[ifname] = (index, before if done is None else done[1])

    def promote_secondaries(self, ifname: str) -> None:
        """Set promote_secondaries on `ifname` now (keepalived's `promote_secondaries` keyword:
        an instance that asks for it has it from start-up on, for an admin's deletes too)."""
        self._promote_secondaries(ifname, self._index_now(ifname))

    def _restore_promote(self) -> None:
        for ifname, (index, before) in self._promoted.items():
            if before == "1":
                continue
            try:
                if self._index_now(ifname) != index:
                    continue  # re-created since: the new interface has its own default
            except AddressError:
                continue
            if self._sysctl(read_sysctl, "ipv4", ifname, "promote_secondaries") == "1":
                self._sysctl(write_sysctl, "ipv4", ifname, "promote_secondaries", before)
        self._promoted.clear()

    @property
    def owned(self) -> frozenset[Vip]:
        return frozenset(self._owned.values())

    @property
    def pending_removal(self) -> frozenset[Vip]:
        """Owned addresses whose delete the kernel refused; `retry_removals` tries again."""
        return frozenset(self._pending.values())

    def owns(self, key: tuple[str, Any, int]) -> bool:
        return key in self._owned

    def forget(self, key: tuple[str, Any, int]) -> Vip | None:
        """The kernel says the address is gone (RTM_DELADDR): nothing left to own or remove."""
        self._pending.pop(key, None)
        vip = self._owned.pop(key, None)
        if vip is not None:
            self.removals += 1
        return vip

    async def add(self, vip: Vip) -> bool:
        """Put `vip` on its interface; True when this call added it (and we now own it)."""
        return self.add_now(vip)

    def add_now(self, vip: Vip) -> bool:
        """`add`, done before it returns (the module docstring says why it can be)."""
        flags = IFA_F_NODAD if vip.address.version == 6 else 0
        self._pending.pop(vip.key, None)  # wanted again: no longer to be removed
        err = self._change(RTM_NEWADDR, vip, flags)
        if err == errno.EEXIST:
            self._owned[vip.key] = vip  # asked for and present: ours from now on (module rules)
            return False
        if err:
            raise AddressError(err, f"cannot add {vip}: {_strerror(err)}")
        self._owned[vip.key] = vip
        return True

    async def remove(self, vip: Vip) -> bool:
        """Take `vip` away if we own it; True when this call removed it."""
        return self.remove_now(vip)

    def remove_now(self, vip: Vip) -> bool:
        """Take `vip` away if we own it; True when this call removed it. A refused delete keeps
        it owned and pending (module rules) and raises AddressError."""
        if vip.key not in self._owned:
            return False
        try:
            err = self._change(RTM_DELADDR, vip, 0)
        except AddressError as exc:
            if exc.errno == errno.ENODEV:  # the interface is gone, and its addresses with it
                self.forget(vip.key)
                return False
            self._pending[vip.key] = vip
            raise
        except OSError as exc:  # failed on the way (short of fds, a namespace gone): retried as a refusal is
            self._pending[vip.key] = vip
            raise AddressError(exc.errno or errno.EIO, f"cannot remove {vip}: {_strerror(exc.errno or errno.EIO)}") from None
        if err in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
            self.forget(vip.key)
            return False
        if err:
            self._pending[vip.key] = vip
            raise AddressError(err, f"cannot remove {vip}: {_strerror(err)}")
        self.forget(vip.key)
        return True

    def retry_removals(self) -> list[tuple[Vip, AddressError | None]]:
        """Try every pending delete again; (vip, None) for each now gone, (vip, error) if not."""
        done: list[tuple[Vip, AddressError | None]] = []
        for vip in list(self._pending.values()):
            try:
                self.remove_now(vip)
                done.append((vip, None))
            except AddressError as exc:
                done.append((vip, exc))
        return done

    def _change(self, kind: int, vip: Vip, flags: int) -> int:
        if self._requests is None:
            raise RuntimeError("AddressOwner used outside 'async with'")
        index = self._index_now(vip.ifname)
        if kind == RTM_DELADDR and vip.address.version == 4:
            self._promote_secondaries(vip.ifname, index)
        try:
            return self._requests.request(lambda seq: address_message(
                kind, seq, index, vip.address, scope=vip.scope, flags=flags,
                broadcast=vip.broadcast, label=vip.label))
        except OSError as exc:
            raise AddressError(exc.errno or errno.EIO, f"netlink: {exc.strerror or exc}") from None

    def _index_now(self, ifname: str) -> int:
        """Asked of the kernel each time (an interface re-created under the same name has a new
        index), on the request socket itself: no descriptor needed. Only ENODEV means "no such
        interface"; anything else is an error the caller keeps the VIP pending on."""
        assert self._requests is not None
        try:
            return self._requests.index(ifname)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                raise AddressError(errno.ENODEV, f"{ifname}: no such interface") from None
            err = exc.errno or errno.EIO
            raise AddressError(err, f"{ifname}: index lookup failed: {_strerror(err)}") from None

    async def claim(self, vip: Vip) -> bool:
        """Declare a present address ours (startup cleanup of leftover VIPs); True if present."""
        if not await self.present(vip):
            return False
        self._owned[vip.key] = vip
        return True

    async def release_all(self) -> list[Vip]:
        """Remove every address we own (shutdown); returns those that were still there."""
        removed = []
        for attempt in range(2):  # a refused delete is tried once more before we give up
            for vip in list(self._owned.values()) if attempt == 0 else list(self._pending.values()):
                try:
                    if self.remove_now(vip):
                        removed.append(vip)
                except AddressError:
                    pass
        return removed

    async def present(self, vip: Vip) -> bool:
        return any(key == vip.key for key in await self.addresses_on(vip.ifname))

    async def claim_present(self, vips: list[Vip]) -> list[Vip]:
        """`claim` for many VIPs with one address dump per interface (start-up with a thousand
        instances must not dump a thousand times)."""
        present: dict[str, set[tuple[str, Any, int]]] = {}
        claimed = []
        for vip in vips:
            if vip.ifname not in present:
                try:
                    present[vip.ifname] = set(await self.addresses_on(vip.ifname))
                except AddressError:
                    present[vip.ifname] = set()
            if vip.key in present[vip.ifname]:
                self._owned[vip.key] = vip
                claimed.append(vip)
        return claimed

    async def addresses_on(self, ifname: str) -> list[tuple[str, Any, int]]:
        """Keys of every address on `ifname` now."""
        index = self._index_now(ifname)
        if self._requests is None:
            raise RuntimeError("AddressOwner used outside 'async with'")
        try:
            dump = self._requests.dump_addresses()
        except OSError as exc:
            raise AddressError(exc.errno or errno.EIO, f"netlink: {exc.strerror or exc}") from None
        return [(ifname, address, prefixlen) for got, address, prefixlen in dump if got == index]


def _strerror(err: int) -> str:

    return os.strerror(err) if err > 0 else str(err)


# --- link state --------------------------------------------------------------------------


@record(frozen=True)
class LinkState:
    ifname: str
    index: int
    flags: int
    exists: bool = True

    @property
    def up(self) -> bool:
        """keepalived's IF_ISUP: administratively up and carrier present."""
        return self.exists and self.flags & (IFF_UP | IFF_RUNNING) == (IFF_UP | IFF_RUNNING)


class HostShortage(OSError):
    """The host could not answer (no descriptor or memory to spare): nothing is known about the
    interface asked for. Never read as "the interface is gone"."""


_SHORTAGE_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS))
def interface_index(ifname: str) -> int:
    """The interface's index in the current namespace, 0 when there is no such interface.

    glibc's if_nametoindex opens a socket for its ioctl, so it also fails when the process is
    out of descriptors, and it reports both failures alike (Python: "no interface with this name";
    errno is not reliable either: glibc probes /proc/net after a failed socket). So a failed
    lookup is followed by the same socket() it needed: if that fails for lack of descriptors or
    memory, HostShortage says the host could not answer; otherwise the lookup is asked again."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        pass
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        if exc.errno in _SHORTAGE_ERRNOS:
            raise HostShortage(exc.errno, exc.strerror) from None
        raise
    probe.close()
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return 0


def link_state(ifname: str) -> LinkState:
    """The interface's flags now, from an ioctl in the current namespace (/sys may be another's).
    Raises HostShortage (an OSError) when the host cannot answer for lack of descriptors."""
    index = interface_index(ifname)
    if index == 0:
        return LinkState(ifname, 0, 0, exists=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            reply = fcntl.ioctl(probe.fileno(), SIOCGIFFLAGS, struct.pack("16s16x", ifname.encode()))
        except OSError:
            return LinkState(ifname, index, 0, exists=False)
    return LinkState(ifname, index, struct.unpack_from("@H", reply, 16)[0])


@record(frozen=True)
class AddressChange:
    """An RTM_NEWADDR / RTM_DELADDR of the current namespace. `ifname` is "" when the interface
    could not be named (it was deleted before the event was read)."""

    ifname: str
    index: int
    address: Any
    prefixlen: int
    added: bool

    @property
    def key(self) -> tuple[str, Any, int]:
        return (self.ifname, self.address, self.prefixlen)


class LinkWatcher:
    """RTM_NEWLINK / RTM_DELLINK events of the current namespace, as LinkState callbacks, and
    address changes as AddressChange callbacks (None: events were lost, re-check everything)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
        self.overruns = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._callback: Callable[[LinkState], None] | None = None
        self._on_address: Callable[[AddressChange | None], None] | None = None
        self._names: dict[int, str] = {}

    def start(self, callback: Callable[[LinkState], None], loop: asyncio.AbstractEventLoop | None = None,
              on_address: Callable[[AddressChange | None], None] | None = None) -> None:
        """Subscribe (already done in __init__), then deliver events from the running loop."""
        self._callback = callback
        self._on_address = on_address
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)
        # The names of the socket's own namespace (which may not be the caller's): a link dump
        # on this socket, read like any link event.
        self._dump_links()

    def _dump_links(self) -> None:
        try:
            self.sock.send(link_dump_request(1))
        except OSError:
            pass  # the events still name the interfaces they concern

    def _name_of(self, index: int) -> str:
        return self._names.get(index, "")

    def _readable(self) -> None:
        for _ in range(64):
            try:
                data = self.sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.overruns += 1
                    self._resync()
                    continue
                raise
            # In the kernel's order: an interface's addresses go before the interface does,
            # and their events must still find its name.
            for mtype, _seq, body in route_messages(data):
                if mtype in (RTM_NEWADDR, RTM_DELADDR):
                    got = parse_address(body)
                    if got is not None and self._on_address is not None:
                        index, address, prefixlen = got
                        self._on_address(AddressChange(self._name_of(index), index, address, prefixlen,
                                                       added=mtype == RTM_NEWADDR))
                    continue
                link = parse_link(mtype, body)
                if link is None:
                    continue
                name, index, flags = link
                state = LinkState(name, index, flags, exists=mtype == RTM_NEWLINK)
                if state.exists:
                    self._names[index] = name
                if self._callback is not None:
                    self._callback(state)
                if not state.exists:
                    self._names.pop(index, None)

    def _resync(self) -> None:
        self._dump_links()  # every link afresh, as events
        if self._on_address is not None:
            self._on_address(None)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.sock.fileno())
        self._loop = None
        self.sock.close()
