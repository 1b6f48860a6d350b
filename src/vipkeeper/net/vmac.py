"""VMAC interfaces: keepalived's `use_vmac`, a macvlan carrying VRRP's virtual MAC.

Rules (keepalived 2.2.7, vrrp_vmac.c / vrrp_if_config.c, and measured in a namespace)
- The VMAC is a private-mode macvlan on the instance's interface, named `vrrp.VRID` unless
  named in the configuration, with MAC 00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6)
  unless given, IPv6 address generation off. It is created at start-up (before the VRRP
  socket, which binds to it unless vmac_xmit_base), stays up in every state (the VIPs come
  and go on it, not the interface), and is deleted at exit and when a reload drops the
  instance.
- Sysctls, as keepalived sets them: on an IPv4 VMAC arp_ignore=1, accept_local=1,
  rp_filter=0, promote_secondaries=1 and IPv6 disabled; on its parent arp_ignore=1 and
  arp_filter=1, so the parent never answers ARP for a VIP with its own MAC (that would flip
  the clients' ARP entries at every failover). On an IPv6 VMAC accept_dad=0, dad_transmits=0,
  and the parent's link-local address is added with NODAD and preferred lifetime 0
  (keepalived's copy shows `nodad deprecated`), so the adverts leave with the link-local source
  the peers expect.
- Differences from keepalived, on purpose, both measured in tests/net/test_vmac_keepalived.py:
  * vipkeeper also sets arp_announce=2 on the parent. Without it the Master's own traffic to a
    client leaves through the parent (its connected route comes first) and the kernel's ARP
    request for the client names the VIP as sender with the parent's MAC: the client's entry for
    the VIP flips to the parent's MAC, which is what use_vmac is there to prevent. keepalived
    2.2.7 does not set it, and its clients' entries flip so.
  * keepalived leaves the parent's arp_ignore and arp_filter at 1 after it exits; vipkeeper puts
    back the values it found when its last VMAC on that parent goes, unless someone changed
    them meanwhile.
- Never touching what vipkeeper did not create: an existing interface of the VMAC's name is
  taken over only when it is exactly a VMAC of ours (macvlan, same parent, same MAC: a leftover
  of a vipkeeper or keepalived that died); anything else is a start-up error naming it.
- `use_ipvlan` goes through the same owner: an L2-mode ipvlan (flags bridge, private or vepa)
  on the instance's interface, named like a VMAC, sharing its parent's MAC (so no MAC of its
  own, and none of the macvlan's ARP sysctls: keepalived sets none for it), IPv6 off on an IPv4
  instance's ipvlan (keepalived's link_set_ipv6), and the configured address added to it, as
  keepalived's netlink_link_add_ipvlan does. Taken over only if it is an ipvlan on the same
  parent. A kernel without ipvlan (EOPNOTSUPP, "Unknown device type") is an error naming that:
  nothing was created, and the caller refuses to start (keepalived 2.2.7 logs "Unable to
  create ipvlan interface" and keeps the instance in FAULT; tests/net/test_ipvlan_refused.py).
- A parent enslaved to a VRF device: the VMAC or ipvlan is made in the same VRF (IFLA_MASTER),
  as keepalived's netlink_link_add_vmac/_ipvlan do; a bridge or bond master is not passed on.
  (Not run here: this machine's kernel has no vrf module; the request bytes are unit-tested.)
- Links through rtnetlink (link_requests.py); sysctls through /proc/sys/net of the calling
  thread's namespace.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import struct

from vipkeeper.net.address_requests import RTM_NEWADDR, AddressSocket, address_message
from vipkeeper.net.link_requests import (
    IPVLAN_FLAGS,
    delete_message,
    ipvlan_message,
    link_info,
    macvlan_message,
    set_up_message,
)
from vipkeeper.net.sysctl import read_sysctl, write_sysctl
from vipkeeper.records import record

log = logging.getLogger("vipkeeper.vmac")

IFA_F_NODAD = 0x02
IFA_CACHEINFO = 6
V4_VMAC_SYSCTLS = (("ipv6", "addr_gen_mode", "1"), ("ipv4", "arp_ignore", "1"), ("ipv4", "accept_local", "1"),
                   ("ipv4", "rp_filter", "0"),
                   ("ipv4", "promote_secondaries", "1"), ("ipv6", "disable_ipv6", "1"))
V6_VMAC_SYSCTLS = (("ipv6", "addr_gen_mode", "1"), ("ipv6", "accept_dad", "0"), ("ipv6", "dad_transmits", "0"))
PARENT_SYSCTLS = (("ipv4", "arp_ignore", "1"), ("ipv4", "arp_filter", "1"), ("ipv4", "arp_announce", "2"))


def _deprecated(message: bytes) -> bytes:
    """The address request with IFA_CACHEINFO preferred 0, valid forever: keepalived's copy of
    the parent's link-local shows `nodad deprecated`, so nothing else picks it as a source."""
    attr = struct.pack("=HHIIII", 20, IFA_CACHEINFO, 0, 0xFFFFFFFF, 0, 0)
    return struct.pack("=I", len(message) + len(attr)) + message[4:] + attr


class VmacError(OSError):
    """A VMAC could not be made; the message is one line naming the interface."""


def vmac_mac(vrid: int, family: int, configured: str | None = None) -> bytes:
    """keepalived's VMAC address; a configured 5-octet address takes the VRID as its last."""
    if configured:
        octets = [int(part, 16) for part in configured.split(":")]
        if len(octets) == 5:
            octets.append(vrid)
        return bytes(octets)
    return bytes([0x00, 0x00, 0x5E, 0x00, 0x01 if family == 4 else 0x02, vrid])


@record(frozen=True)
class VmacSpec:
    name: str
    parent: str
    mac: bytes  # the macvlan's; unused for an ipvlan (it has its parent's)
    family: int  # 4 or 6
    kind: str = "macvlan"  # or "ipvlan"
    ipvlan_mode: str = "bridge"  # an ipvlan's flags: bridge, private, vepa
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None = None  # an ipvlan's own address
    other_family: bool = False  # an ipvlan of an IPv4 instance with IPv6 eVIPs keeps IPv6 on


def missing_kind_message(kind: str, err: int) -> str:
    """What the kernel's answer to creating a link of `kind` means, in one phrase."""
    if err == errno.EOPNOTSUPP:  # measured: iproute2 prints "Error: Unknown device type."
        return (f"this kernel has no {kind} support (RTM_NEWLINK kind {kind}: EOPNOTSUPP, "
                "\"Unknown device type\": the module is neither built in nor loadable)")
    return errno.errorcode.get(err, str(err))


class VmacOwner:
    """Creates VMACs and deletes only the ones it created (or took over as its own leftovers).

    Works in the calling thread's namespace (the daemon's own after it entered it); tests in
    the initial namespace call it through netns.call_in."""

    def __init__(self) -> None:
        self._requests: AddressSocket | None = None
        self.owned: dict[str, VmacSpec] = {}
        # parent -> {(proto, key): (value found, value we wrote)}
        self._parent_saved: dict[str, dict[tuple[str, str], tuple[str, str]]] = {}

    def _socket(self) -> AddressSocket:
        if self._requests is None:
            self._requests = AddressSocket()
        return self._requests

    def missing(self) -> list[str]:
        """Our VMACs the kernel no longer has (deleted by someone, or with their parent)."""
        out = []
        for name in self.owned:
            try:
                socket.if_nametoindex(name)
            except OSError:
                out.append(name)
        return out

    def ensure(self, spec: VmacSpec, again: bool = False) -> bool:
        """Make `spec` exist and be up; True when it was created now. Raises VmacError.
        `again`: one of ours that the kernel deleted, made anew (it stays ours if that fails)."""
        if spec.name in self.owned and not again:
            return False
        self.owned.pop(spec.name, None)
        try:
            return self._ensure(spec)
        except VmacError:
            if again:
                self.owned[spec.name] = spec
            raise

    def _ensure(self, spec: VmacSpec) -> bool:
        requests = self._socket()
        try:
            parent = socket.if_nametoindex(spec.parent)
        except OSError:
            raise VmacError(errno.ENODEV, f"{spec.parent}: no such interface for VMAC {spec.name}") from None
        found = link_info(requests, spec.name)
        created = False
        vrf = self._vrf_of(requests, spec.parent)
        if found is not None and spec.kind == "ipvlan":
            if found.kind != "ipvlan" or found.parent != parent:
                raise VmacError(errno.EEXIST, f"{spec.name} exists and is not an ipvlan on {spec.parent} (kind "
                                              f"{found.kind or 'plain'}): not touching it")
            log.info("ipvlan %s on %s was left behind: taking it over", spec.name, spec.parent)
            index = found.index
        elif found is not None:
            if found.kind != "macvlan" or found.parent != parent or found.mac != spec.mac:
                raise VmacError(errno.EEXIST, f"{spec.name} exists and is not a VMAC {spec.mac.hex(':')} on "
                                              f"{spec.parent} (kind {found.kind or 'plain'}, MAC "
                                              f"{found.mac.hex(':')}): not touching it")
            log.info("VMAC %s on %s was left behind: taking it over", spec.name, spec.parent)
            index = found.index
        else:
            if spec.kind == "ipvlan":
                flags = IPVLAN_FLAGS[spec.ipvlan_mode]
                err = requests.request(lambda seq: ipvlan_message(seq, spec.name, parent, flags, vrf))
            else:
                err = requests.request(lambda seq: macvlan_message(seq, spec.name, parent, spec.mac, vrf))
            if err:
                what = "ipvlan" if spec.kind == "ipvlan" else "VMAC"
                raise VmacError(err, f"cannot create {what} {spec.name} on {spec.parent}: "
                                     f"{missing_kind_message(spec.kind, err)}")
            created = True
            index = socket.if_nametoindex(spec.name)
        self.owned[spec.name] = spec
        try:
            self._configure(spec, parent)
            err = requests.request(lambda seq: set_up_message(seq, index))
            if err:
                raise VmacError(err, f"cannot bring VMAC {spec.name} up: {errno.errorcode.get(err, err)}")
        except BaseException:
            self.remove(spec.name)
            raise
        what = "ipvlan" if spec.kind == "ipvlan" else "VMAC"
        log.info(f"Success creating {what} interface %s" if created else f"Using {what} interface %s", spec.name)
        return created

    @staticmethod
    def _vrf_of(requests: AddressSocket, parent: str) -> int:
        """The index of the VRF device `parent` is enslaved to, 0 when none (a bridge or bond
        master is not a VRF: keepalived passes on only vrf_master_ifp)."""
        info = link_info(requests, parent)
        if info is None or not info.master:
            return 0
        try:
            master = link_info(requests, socket.if_indextoname(info.master))
        except OSError:
            return 0
        return info.master if master is not None and master.kind == "vrf" else 0

    def _configure(self, spec: VmacSpec, parent_index: int) -> None:
        if spec.kind == "ipvlan":
            self._configure_ipvlan(spec)
            return
        for proto, key, value in (V4_VMAC_SYSCTLS if spec.family == 4 else V6_VMAC_SYSCTLS):
            write_sysctl(proto, spec.name, key, value)
        if spec.family == 4:
            saved = self._parent_saved.setdefault(spec.parent, {})
            for proto, key, value in PARENT_SYSCTLS:
                before = read_sysctl(proto, spec.parent, key)
                if before is None:
                    continue
                if (proto, key) not in saved:
                    saved[(proto, key)] = (before, value)
                if before != value:
                    write_sysctl(proto, spec.parent, key, value)
        else:
            self._add_link_local(spec, parent_index)

    def _configure_ipvlan(self, spec: VmacSpec) -> None:
        """keepalived's netlink_link_add_ipvlan after creation: IPv6 off on an IPv4 instance's
        ipvlan unless it has IPv6 eVIPs (VRRP_FLAG_EVIP_OTHER_FAMILY), the configured address on it."""
        if spec.family == 4 and not spec.other_family:
            write_sysctl("ipv6", spec.name, "disable_ipv6", "1")
        if spec.address is None:
            return
        index = socket.if_nametoindex(spec.name)
        address = spec.address
        err = self._socket().request(lambda seq: address_message(RTM_NEWADDR, seq, index, address))
        if err not in (0, errno.EEXIST):
            raise VmacError(err, f"cannot add {address} to ipvlan {spec.name}: {errno.errorcode.get(err, err)}")

    def _add_link_local(self, spec: VmacSpec, parent_index: int) -> None:
        from vipkeeper.net.vrrp_socket import VrrpSocketError, interface_source

        try:
            link_local = interface_source(spec.parent, socket.AF_INET6)
        except VrrpSocketError as exc:
            log.warning("VMAC %s: %s", spec.name, exc)
            return
        index = socket.if_nametoindex(spec.name)
        address = ipaddress.IPv6Interface(f"{link_local}/64")
        err = self._socket().request(lambda seq: _deprecated(address_message(RTM_NEWADDR, seq, index, address,
                                                                             scope=253, flags=IFA_F_NODAD)))
        if err not in (0, errno.EEXIST):
            log.warning("VMAC %s: cannot add link-local %s: %s", spec.name, link_local, errno.errorcode.get(err, err))

    def remove(self, name: str) -> None:
        spec = self.owned.pop(name, None)
        if spec is None:
            return
        try:
            index = socket.if_nametoindex(name)
        except OSError:
            index = None  # gone already (its parent was deleted)
        if index is not None:
            err = self._socket().request(lambda seq: delete_message(seq, index))
            what = "ipvlan" if spec.kind == "ipvlan" else "VMAC"
            if err in (0, errno.ENODEV):
                log.info(f"Success removing {what} interface %s", name)
            else:
                log.error(f"cannot remove {what} %s: %s", name, errno.errorcode.get(err, err))
        if not any(s.parent == spec.parent for s in self.owned.values()):
            self._restore_parent(spec.parent)

    def _restore_parent(self, parent: str) -> None:
        for (proto, key), (before, wrote) in self._parent_saved.pop(parent, {}).items():
            if before != wrote and read_sysctl(proto, parent, key) == wrote:
                write_sysctl(proto, parent, key, before)

    def release_all(self) -> None:
        for name in list(self.owned):
            self.remove(name)

    def close(self) -> None:
        if self._requests is not None:
            self._requests.close()
            self._requests = None
