"""Routers (daemon/router.py) without sockets, netlink or real time, for the router tests.

`routers(config, wire)` builds one Router per instance of a configuration text on one VrrpSocket
over a fake `wire` (anything with `sendto`), with an address owner per router (by default one
that takes every change) and no announcer; `on_loop(body, start)` runs `body(clock)` inside a
running event loop (a Router needs one) whose clock is `clock[0]`, which the test moves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable

from vipkeeper.config import loads
from vipkeeper.daemon.router import Router
from vipkeeper.daemon.runtime import params_of
from vipkeeper.net.vrrp_socket import VrrpSocket
from vipkeeper.precise_timers import PreciseTimers

SRC = ipaddress.IPv4Address("192.0.2.1")
GROUP = ipaddress.IPv4Address("224.0.0.18")


class AcceptAll:
    """An address owner on which every VIP added or removed is done."""

    def add_now(self, vip: object) -> bool:
        return True

    def remove_now(self, vip: object) -> bool:
        return True


def ignore_notify(router: Router, action: object) -> None:
    """The routers' notify callback: one object for all of them, as the runtime's."""


def routers(config: str, wire: object, addresses: Callable[[], object] = AcceptAll,
            timers: PreciseTimers | None = None) -> list[Router]:
    """A Router per instance of `config`, all on one socket (eth0, ifindex 2, source SRC) sending
    through `wire`; `addresses()` makes each one's address owner. Call inside a running loop."""
    parsed = loads(config)
    sock = VrrpSocket(wire, "eth0", 2, socket.AF_INET, GROUP, SRC)  # type: ignore[arg-type]
    return [Router(model, params_of(model, parsed, SRC), sock, addresses(), None,  # type: ignore[arg-type]
                   ignore_notify, timers=timers) for model in parsed.instances]


def on_loop(body: Callable[[list[float]], None], start: float) -> None:
    """Run `body(clock)` inside a running event loop whose time() is `clock[0]` (`start` at first)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock = [start]
        loop.time = lambda: clock[0]  # type: ignore[method-assign]
        body(clock)

    asyncio.run(main())


class EventLines(logging.Handler):
    """Log lines into an event list, as ("log", message), beside the wire's events."""

    def __init__(self, events: list) -> None:
        super().__init__()
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(("log", record.getMessage()))


class EventWire:
    """A socket stand-in recording each advert as ("advert", its priority byte)."""

    def __init__(self, events: list) -> None:
        self.events = events

    def sendto(self, data: bytes, address: object) -> int:
        self.events.append(("advert", data[20 + 2]))  # the VRRP header's priority byte
        return len(data)


class EventAddresses:
    """An address owner stand-in recording ("add"/"remove", VIP) into the event list."""

    def __init__(self, events: list) -> None:
        self.events = events

    def add_now(self, vip: object) -> bool:
        self.events.append(("add", str(vip)))
        return True

    def remove_now(self, vip: object) -> bool:
        self.events.append(("remove", str(vip)))
        return True
