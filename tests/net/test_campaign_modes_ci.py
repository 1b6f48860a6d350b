"""The CI-sized campaign modes (issue 20): one short hand-written schedule per mode, vipkeeper.

Each schedule plays its mode's own fault on the master (a, priority 150) and on a backup, and
must end with no violation of any verdict and a back as the only holder (preempt). The long
campaign (bench/campaign/run.py --mode ...) plays generated schedules of the same modes against
vipkeeper and keepalived."""

from __future__ import annotations

import pytest

from bench.campaign import campaign
from bench.campaign.campaign import Fault, Schedule

pytestmark = pytest.mark.net

ADV = 0.2
SCHEDULES = {
    "ipv6": (Fault(5.0, "partition", "a", 2.0), Fault(8.5, "daemon_kill", "b", 1.5), Fault(11.0, "link_down", "a", 1.5)),
    "unicast": (Fault(5.0, "partition", "a", 2.0), Fault(8.5, "proc_kill", "a", 1.5),
                Fault(11.0, "reload_priority", "c", 0, 200), Fault(13.0, "reload_priority", "c", 0, 100)),
    # a tracked process lost on the master takes both instances of the group to b together
    "sync": (Fault(5.0, "proc_kill", "a", 1.5), Fault(8.0, "partition", "a", 2.0), Fault(11.5, "daemon_kill", "a", 1.5)),
    # b is keepalived in vipkeeper's run: the VIP moves from vipkeeper to keepalived and back
    "mixed": (Fault(5.0, "daemon_kill", "a", 1.5), Fault(8.5, "proc_kill", "a", 1.5), Fault(11.5, "link_down", "b", 1.5)),
    "flush": (Fault(5.0, "addr_flush", "a", 2.0), Fault(9.0, "addr_flush", "b", 1.5)),
    # the tracked process restarts while the daemon is short of fds (issue 20, finding 3)
    "fd": (Fault(5.0, "fd_pressure", "a", 4.0), Fault(5.5, "proc_kill", "a", 1.5)),
    # b (backup) and then a (master) drop VI_SECOND and take it back: VI_CAMPAIGN must not move
    "reload": (Fault(5.0, "reload_remove", "b", 2.5), Fault(9.0, "reload_remove", "a", 2.5)),
    "ifrecreate": (Fault(5.0, "if_recreate", "a", 2.0), Fault(9.0, "if_recreate", "b", 1.5)),
}


@pytest.mark.parametrize("mode", sorted(SCHEDULES))
def test_mode_schedule_has_no_violation(mode):
    faults = SCHEDULES[mode]
    schedule = Schedule(seed=-1, duration=max(f.end for f in faults) + 5.0, advert_int=ADV, faults=faults, mode=mode)
    rec = campaign.run_schedule(schedule, "vipkeeper")
    assert len(rec.samples) > schedule.duration * 30, "the 10 ms sampler fell far behind"
    assert campaign.judge(rec) == []
    assert rec.samples[-1][1] == ("a",), rec.samples[-1]
    # the checks of the mode looked at something
    if mode in campaign.TWO_INSTANCES:
        assert len(rec.samples2) == len(rec.samples)
    if mode == "sync":
        assert rec.stats["sync_samples"] > 0
        assert any("b" in h for _t, h in rec.samples2), "VI_SECOND never moved to b"
    if mode == "reload":
        assert rec.stats["quiet_reloads"] >= 1 and rec.stats["removed_samples"] > 0, dict(rec.stats)
        # while a lacked VI_SECOND, its VIP was on another node
        a_removed = rec.removed["a"][0]
        assert any(a_removed[0] + 1 < t < a_removed[1] and h and "a" not in h for t, h in rec.samples2)
    if mode in ("ifrecreate", "mixed"):
        # the master's fault moved the VIP away from a, and a took it back
        assert any(h and "a" not in h for _t, h in rec.samples), "the VIP never left a"
