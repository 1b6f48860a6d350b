"""Listening from the start: the VRRP sockets opened as soon as the configuration is read.

Rule (RFC 5798 / 3768, 6.4.1): a Backup claims the VIPs only after a Master_Down_Interval in
which it heard no Master. What the rule needs is that the node *listened* that long, not that
its process had finished initialising. So `vipkeeper run` opens its VRRP sockets right after it
has read the configuration -- before it imports the event loop and starts the trackers, the
address machinery and the rest (tens of milliseconds) -- and the runtime dates each instance's
Startup from the moment its socket listened (`startup_time`).

How it stays correct:
- Adverts that arrive meanwhile queue in the socket's kernel buffer. The runtime starts reading a
  socket only once every instance on it has had its Startup (an instance still in INIT drops
  adverts), so each queued advert is heard; it is judged when it is read, which is never earlier
  than it arrived: the Backup's timers can only come out later than the RFC's, never sooner. A
  higher-priority Master advertising during the start therefore keeps the node Backup.
- The date is used only if Startup comes less than half an advert interval after the socket
  listened (`startup_time`); otherwise Startup is now, as it always was. Within that bound the
  master-down deadline (3 intervals + skew after listening; `state MASTER`: 1 interval + skew)
  lies well after the queued adverts are read, and no more than one advert per Master can have
  queued. An instance that first waits for its track scripts is started now, not dated.
- Only sockets the runtime would open the same way are opened here (same key, same options,
  the same function: `open_vrrp_socket`); an instance on an interface the daemon creates itself
  (use_vmac, use_ipvlan) or one that cannot be opened yet is left to the runtime, which opens it
  (or reports why not) as before. Sockets the runtime does not take are closed after the start.
- An address owner (priority 255) still becomes Master at its Startup, at once.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time

from vipkeeper.config.model import Config
from vipkeeper.config.model import Instance as InstanceModel
from vipkeeper.net.vrrp_socket import VrrpSocket, interface_source

log = logging.getLogger("vipkeeper.daemon")


def endpoint_key(model: InstanceModel, group4: ipaddress.IPv4Address, group6: ipaddress.IPv6Address) -> tuple:
    """The socket an instance shares with others: (interface, family, group or "unicast", source)."""
    unicast = bool(model.unicast_peers)
    family = socket.AF_INET6 if model.family == 6 else socket.AF_INET
    ifname = model.socket_interface  # the VMAC unless vmac_xmit_base
    if unicast:
        return (ifname, family, "unicast", model.unicast_src_ip)
    group = model.mcast_dst_ip or (group6 if model.family == 6 else group4)
    return (ifname, family, str(group), model.mcast_src_ip)


def not_sources(config: Config) -> frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address the configuration makes virtual (VIPs and eVIPs of every instance): never
    an advert's source, whichever interface carries it (net/vrrp_socket.py)."""
    return frozenset(v.ip for m in config.instances for v in m.virtual_ipaddress + m.virtual_ipaddress_excluded)


def configured_source(model: InstanceModel) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The source the configuration fixes (unicast_src_ip / mcast_src_ip / the ipvlan's address),
    or None: then the socket takes the interface's own address, which may change."""
    src = model.unicast_src_ip if model.unicast_peers else model.mcast_src_ip
    if src is None and model.ipvlan_address is not None:  # keepalived: the ipvlan's address
        src = model.ipvlan_address.ip
    return src


def interface_source_of(model: InstanceModel, key: tuple, not_from: frozenset = frozenset(),
                        keep: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
                        ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The interface address the socket for `key` sends from when none is configured: the
    interface's own, or for an IPv4 VMAC the parent's (it has none); raises VrrpSocketError
    when there is none (see vrrp_socket.interface_source)."""
    ifname, family = key[0], key[1]
    if ifname != model.interface and family == socket.AF_INET:
        ifname = model.interface
    return interface_source(ifname, family, not_from, keep)


def open_vrrp_socket(model: InstanceModel, key: tuple, not_from: frozenset = frozenset()) -> VrrpSocket:
    """The VRRP socket for `key` (endpoint_key), as the instance `model` needs it; unless the
    source is configured, it is the interface's address that is none of `not_from` (not_sources)."""
    family = key[1]
    ifname = key[0]  # the VMAC unless vmac_xmit_base (endpoint_key)
    src = configured_source(model)
    if src is None and ifname != model.interface and family == socket.AF_INET:
        # a VMAC has no IPv4 address: adverts leave from the parent's (keepalived, measured)
        src = interface_source(model.interface, family, not_from)
    if model.unicast_peers:
        return VrrpSocket.open(ifname, family, src=src, unicast=True, not_from=not_from)
    group = key[2]
    return VrrpSocket.open(ifname, family, group=group, src=src, not_from=not_from)


def open_early(config: Config) -> dict[tuple, tuple[VrrpSocket, float]]:
    """The sockets of the instances whose interface exists now, each with the monotonic time
    (the event loop's clock) from which it has been listening. Call it in the daemon's network
    namespace. A socket that cannot be opened here is simply not in the result."""
    g = config.global_defs
    found: dict[tuple, tuple[VrrpSocket, float]] = {}
    not_from = not_sources(config)
    for model in config.instances:
        if model.vmac_interface is not None or model.use_ipvlan is not None:
            continue  # the runtime creates that interface first
        key = endpoint_key(model, g.vrrp_mcast_group4, g.vrrp_mcast_group6)
        if key in found:
            continue
        try:
            sock = open_vrrp_socket(model, key, not_from)
        except OSError as exc:
            log.debug("(%s) VRRP socket not opened early: %s", model.name, exc)
            continue
        found[key] = (sock, time.monotonic())
    return found


def startup_time(since: float | None, now: float, advert_int: float) -> float | None:
    """When an instance's Startup is dated: `since` (its socket has listened from then) if that
    is less than half an advert interval before `now`, else None (Startup is now)."""
    if since is None or not 0 <= now - since < advert_int / 2:
        return None
    return since
