"""What the daemon holds per instance at run time is lean (issue 18: memory at 1,000 instances).

Structural, not sizes (the RSS figures belong to bench/scale.py): the objects the daemon keeps
one of per instance have no __dict__, the runtime's callbacks are one object shared by every
router, what most instances never use (drops by reason, trackers, the log rate limiter, a VIP's
conflict answers) is made at first use, and a router keeps the datagrams of one advert.
"""

from __future__ import annotations

import asyncio
import ipaddress

from vipkeeper.config import loads
from vipkeeper.daemon.router import RouterCounters
from vipkeeper.daemon.runtime import params_of
from vipkeeper.net.addresses import Vip
from vipkeeper.vrrp.instance import (
    AdvertReceived,
    ForceMaster,
    Startup,
    State,
    TrackerChanged,
)
from vipkeeper.vrrp.log_limit import LogLimiter
from vipkeeper.vrrp.packet import Advertisement
from vipkeeper.vrrp.vip_conflict import ConflictCore

from .router_harness import SRC, routers

CONFIG = """vrrp_instance VI_1 { interface eth0
  virtual_router_id 51 priority 255 advert_int 1 version 3
  virtual_ipaddress { 192.0.2.100/32 } }
vrrp_instance VI_2 { interface eth0
  virtual_router_id 52 priority 255 advert_int 1 version 3
  virtual_ipaddress { 192.0.2.101/32 } }"""


class _Wire:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, address: object) -> int:
        self.sent.append(bytes(data))
        return len(data)


def test_per_instance_objects_have_no_dict_and_share_what_they_can() -> None:
    async def main() -> None:
        wire = _Wire()
        a, b = routers(CONFIG, wire)
        for obj in (a, a.core, a.counters, a.params, a.params.vips[0], LogLimiter()):
            assert not hasattr(obj, "__dict__"), type(obj).__name__
        # made at first use: nothing of the kind yet
        assert a.counters._drops is None and a.counters.as_dict()["drops"] == {}
        assert a.core._log_limiter is None and a.core.lines_suppressed == 0
        assert a.core._trackers is b.core._trackers == {}  # the one shared empty mapping
        assert a._on_notify is b._on_notify
        # the advertised address is the VIP's own object, and Vip.ip is the same object each time
        vip = a.params.vips[0]
        assert isinstance(vip, Vip) and vip.ip is vip.ip is a.params.addresses[0] and vip.ip == vip.address.ip
        for r in (a, b):
            r.feed(Startup())  # BACKUP (the VIP is not the interface's: no address owner)
            r.feed(ForceMaster())  # then MASTER: the first advert out
        assert a.state == b.state == State.MASTER and len(wire.sent) == 2
        wire_a = a._advert_wire
        assert a._advert_prio == a.core.effective_priority and len(wire_a) == 1
        a.send_advert(a.core.effective_priority)
        assert a._advert_wire is wire_a  # built once for the priority, not again per advert
        # the destination part of the prepared datagram is one object for every router of the socket
        assert a._advert_wire[0][1] is b._advert_wire[0][1]
        zero = a._advert_zero  # the priority-0 advert was made with the first one (a failover starts with it)
        assert zero is not None and zero is not wire_a
        a.send_advert(0)
        assert a._advert_zero is zero and a._advert_wire is wire_a  # neither built again
        a.send_advert(a.core.effective_priority - 1)  # another priority: the one kept is now that one
        assert a._advert_prio == a.core.effective_priority - 1 and a._advert_wire is not wire_a
        assert a._advert_zero is zero
        # a drop and a tracker make their own objects, for that instance only
        a.counters.drops["vrid_mismatch"] += 1
        assert a.counters.as_dict()["drops"] == {"vrid_mismatch": 1} and b.counters._drops is None
        a.feed(TrackerChanged("chk", -10, False))
        assert a.core._trackers == {"chk": (-10, False)} and b.core._trackers == {}
        # a lower-priority advert at a Master logs through the limiter, made now
        a.feed(AdvertReceived(Advertisement(3, 51, 100, (ipaddress.IPv4Address("192.0.2.100"),), 100),
                              ipaddress.IPv4Address("192.0.2.200")))
        assert a.core._log_limiter is not None and b.core._log_limiter is None
        counters = RouterCounters()
        counters.adverts_sent = 5
        counters.drops["x"] += 1
        counters.clear()
        assert counters.as_dict() == RouterCounters().as_dict()

    asyncio.run(main())


def test_conflict_records_share_the_empty_answers_until_an_answer() -> None:
    core = ConflictCore(interval=10.0, settle=0.25)
    vips = [ipaddress.IPv4Address("192.0.2.10"), ipaddress.IPv4Address("192.0.2.11")]
    core.became_master("VI_1", (vips[0],), 0.0)
    core.became_master("VI_2", (vips[1],), 0.0)
    first, second = core.vips[vips[0]], core.vips[vips[1]]
    assert first.answers is second.answers and first.conflicts is second.conflicts and not first.answers
    probes, _ = core.tick(0.3)
    assert set(probes) == set(vips)
    started = core.claim(0.31, vips[0], "02:00:00:00:00:99", True)
    assert [s.vip for s in started] == [vips[0]]
    assert first.answers == {"02:00:00:00:00:99": 0.31} and not second.answers and not second.conflicts


def test_instances_alike_share_one_common_parameter_record() -> None:
    config = loads(CONFIG)
    first, second = config.instances  # the configuration's records share theirs too (records' shared=)
    assert first._shared is second._shared and not hasattr(first, "__dict__")  # type: ignore[attr-defined]
    a, b = (params_of(m, config, SRC) for m in config.instances)
    assert a.name != b.name and a.vrid != b.vrid
    assert a.common is b.common and a.advert_int == b.advert_int and a.garp_master_delay == b.garp_master_delay
    assert not hasattr(a, "__dict__")
    # a value of another type is not taken for an equal one of the shared record (1 vs 1.0)
    from vipkeeper.vrrp.instance import InstanceParams

    one, one_f = InstanceParams(name="x", vrid=1, advert_int=1), InstanceParams(name="y", vrid=2, advert_int=1.0)
    assert type(one.advert_int) is int and type(one_f.advert_int) is float and one.common is not one_f.common
    # every field still a keyword of its own, also through replace
    from vipkeeper import records

    moved = records.replace(a, source_address=ipaddress.IPv4Address("192.0.2.9"), garp_master_delay=1.5)
    assert moved.garp_master_delay == 1.5 and moved.advert_int == a.advert_int and a.garp_master_delay != 1.5
