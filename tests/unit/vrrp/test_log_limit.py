"""Rate-limited logging and bounded reactions (issue 20 #6), with a fake clock."""

from __future__ import annotations

import ipaddress

from vipkeeper.vrrp.instance import (
    AdvertReceived,
    Announce,
    Drop,
    Instance,
    InstanceParams,
    Log,
    Notify,
    SendAdvert,
    Startup,
    State,
    TimerFired,
)
from vipkeeper.vrrp.log_limit import LogLimiter
from vipkeeper.vrrp.packet import AUTH_PASS, Advertisement, DropReason, pad_auth

ME = ipaddress.ip_address("192.0.2.1")
PEER = ipaddress.ip_address("192.0.2.2")
STRANGER = ipaddress.ip_address("192.0.2.66")
VIP = ipaddress.ip_address("192.0.2.10")


def test_limiter_first_at_once_then_one_per_interval_with_count():
    lim = LogLimiter(interval=60.0)
    assert lim.allow("auth", 0.0) == (True, 0)
    assert [lim.allow("auth", 0.001 * i)[0] for i in range(1, 1000)] == [False] * 999
    assert lim.allow("other", 1.0) == (True, 0)  # keys are independent
    assert lim.suppressed("auth") == 999
    assert lim.allow("auth", 59.9) == (False, 0)
    assert lim.allow("auth", 60.0) == (True, 1000)
    assert lim.suppressed("auth") == 0 and lim.suppressed_total == 1000
    assert lim.allow("auth", 200.0) == (True, 0)


def master(**kw) -> Instance:
    params = InstanceParams(name="VI_1", vrid=51, version=2, priority=200, advert_int=1.0,
                            source_address=ME, vips=("vip",), addresses=(VIP,),
                            auth_type=AUTH_PASS, auth_data=b"secret1", garp_lower_prio_delay=0.0, **kw)
    core = Instance(params)
    core.handle(Startup(), 0.0)
    core.handle(TimerFired(), 100.0)
    assert core.state == State.MASTER
    return core


def adv(priority: int, password: bytes = b"secret1") -> Advertisement:
    return Advertisement(2, 51, priority, (VIP,), 100, AUTH_PASS, pad_auth(password))


def flood(core: Instance, advert: Advertisement, n: int, start: float, step: float, src=PEER) -> list:
    out = []
    for i in range(n):
        out += core.handle(AdvertReceived(advert, src), start + i * step)
    return out


def test_bad_password_flood_logs_once_per_minute_and_counts_every_drop():
    core = master()
    out = flood(core, adv(100, b"wrong"), 10_000, 101.0, 0.01)  # 100 s of 100 adverts/s
    logs = [a for a in out if isinstance(a, Log)]
    drops = [a for a in out if isinstance(a, Drop)]
    assert len(drops) == 10_000 and {d.reason for d in drops} == {DropReason.AUTH_MISMATCH}
    assert [log.message for log in logs] == [
        "(VI_1) received an invalid passwd!",
        "(VI_1) received an invalid passwd! (5999 similar suppressed)",
    ]
    assert not any(isinstance(a, (SendAdvert, Notify, Announce)) for a in out)


def test_master_reacts_to_lower_priority_at_most_once_per_advert_interval():
    core = master()
    out = flood(core, adv(100), 1000, 101.0, 0.002)  # 2 s of 500 adverts/s
    sends = [a for a in out if isinstance(a, SendAdvert)]
    notes = [a for a in out if isinstance(a, Notify) and a.state == "MASTER_RX_LOWER_PRI"]
    garps = [a for a in out if isinstance(a, Announce)]
    logs = [a for a in out if isinstance(a, Log)]
    assert len(sends) == len(notes) == len(garps) == 2
    assert len(logs) == 1 and "lower priority 100, ours 200" in logs[0].message
    assert core.reactions_skipped == 998
    assert core.state == State.MASTER


def test_priority_zero_flood_answered_once_per_interval():
    core = master()
    out = flood(core, adv(0), 500, 101.0, 0.002)
    assert len([a for a in out if isinstance(a, SendAdvert)]) == 1


def test_higher_priority_still_wins_at_once_during_a_flood():
    core = master()
    flood(core, adv(100), 100, 101.0, 0.001)
    out = core.handle(AdvertReceived(adv(250), PEER), 101.2)
    assert core.state == State.BACKUP and any(isinstance(a, Log) and "higher priority" in a.message for a in out)


def test_unknown_unicast_peer_is_dropped_before_any_check_that_logs():
    core = Instance(InstanceParams(name="VI_1", vrid=51, version=3, priority=100, source_address=ME,
                                   unicast_peers=(PEER,), check_unicast_src=True, addresses=(VIP,)))
    core.handle(Startup(), 0.0)
    wrong_everything = Advertisement(2, 51, 100, (), 300, 0, b"")  # wrong version, no VIPs
    out = flood(core, wrong_everything, 100, 1.0, 0.01, src=STRANGER)
    assert [a.reason for a in out if isinstance(a, Drop)] == [DropReason.UNKNOWN_PEER] * 100
    assert [a.message for a in out if isinstance(a, Log)] == [
        f"(VI_1) unicast source address {STRANGER} not a unicast peer"]
