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
- Links through rtnetlink (link_requests.py); sysctls through /proc/sys/net of the calling
  thread's namespace.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import struct
from dataclasses import dataclass

from vipkeeper.net.address_requests import RTM_NEWADDR, AddressSocket, address_message
from vipkeeper.net.link_requests import (
    delete_message,
    link_info,
    macvlan_message,
    set_up_message,
)

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


@dataclass(frozen=True)
class VmacSpec:
    name: str
    parent: str
    mac: bytes
    family: int  # 4 or 6


def _sysctl_path(proto: str, ifname: str, key: str) -> str:
    return f"/proc/sys/net/{proto}/conf/{ifname}/{key}"


def read_sysctl(proto: str, ifname: str, key: str) -> str | None:
    try:
        with open(_sysctl_path(proto, ifname, key)) as f:
            return f.read().strip()
    except OSError:
        return None


def write_sysctl(proto: str, ifname: str, key: str, value: str) -> bool:
    try:
        with open(_sysctl_path(proto, ifname, key), "w") as f:
            f.write(value)
        return True
    except OSError as exc:
        log.warning("%s: cannot set %s.%s=%s: %s", ifname, proto, key, value, exc.strerror or exc)
        return False


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
        if found is not None:
            if found.kind != "macvlan" or found.parent != parent or found.mac != spec.mac:
                raise VmacError(errno.EEXIST, f"{spec.name} exists and is not a VMAC {spec.mac.hex(':')} on "
                                              f"{spec.parent} (kind {found.kind or 'plain'}, MAC "
                                              f"{found.mac.hex(':')}): not touching it")
            log.info("VMAC %s on %s was left behind: taking it over", spec.name, spec.parent)
            index = found.index
        else:
            err = requests.request(lambda seq: macvlan_message(seq, spec.name, parent, spec.mac))
            if err:
                raise VmacError(err, f"cannot create VMAC {spec.name} on {spec.parent}: "
                                     f"{errno.errorcode.get(err, err)}")
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
        log.info("Success creating VMAC interface %s" if created else "Using VMAC interface %s", spec.name)
        return created

    def _configure(self, spec: VmacSpec, parent_index: int) -> None:
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
            if err in (0, errno.ENODEV):
                log.info("Success removing VMAC interface %s", name)
            else:
                log.error("cannot remove VMAC %s: %s", name, errno.errorcode.get(err, err))
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
