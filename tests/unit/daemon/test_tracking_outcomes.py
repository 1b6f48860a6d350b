"""The hub's up/down outcomes (daemon/tracking.py): a process or script change reaches each
follower with what `_publish` computes from the references (weights, reverse, sync-group
forcing, the address owner), from an index made once per configuration - the same events, in
the same order, to the same instances, and nothing to an instance whose effect did not change."""

from __future__ import annotations

import asyncio

from vipkeeper.config import loads
from vipkeeper.daemon.tracking import TrackingHub

CONFIG = """vrrp_track_process p1 {
  process svc
  weight 10
}
vrrp_track_process p2 {
  process other
  weight -20
  reverse
}
vrrp_script s1 {
  script "/bin/true"
  weight 0
}
vrrp_sync_group G { group { VI_3 VI_4 } track_process { p1 weight 5 } }
""" + "".join(
    f"""vrrp_instance VI_{k} {{ interface eth0
  virtual_router_id {k + 1} priority {100 if k != 2 else 255} advert_int 1
  virtual_ipaddress {{ 192.0.2.{k + 1}/32 }}
  track_process {{ p1 {"weight -7" if k == 1 else ""} {"reverse" if k == 0 else ""}
    p2 }}
  track_script {{ s1 }}
}}
""" for k in range(5))


def _deliveries(fast: bool) -> list[tuple[str, str, int, bool]]:
    async def main() -> list[tuple[str, str, int, bool]]:
        hub = TrackingHub(loads(CONFIG))
        got: list[tuple[str, str, int, bool]] = []
        hub._on_change = lambda name, ev: got.append((name, ev.name, ev.contribution, ev.fault))
        hub._followers_index()
        steps = [("process", "p1", True), ("process", "p2", False), ("script", "s1", True),
                 ("process", "p1", False), ("process", "p1", False), ("script", "s1", False),
                 ("process", "p2", True), ("process", "p1", True)]
        for kind, name, up in steps:
            (hub.proc_status if kind == "process" else hub.script_status)[name] = up
            if fast:
                hub._publish_up_down(kind, name, up)
            else:
                hub._publish(kind, name)
            got.append(("--", kind, name, up))
        return got

    return asyncio.run(main())


def test_the_indexed_outcomes_deliver_what_the_references_compute() -> None:
    fast, slow = _deliveries(True), _deliveries(False)
    assert fast == slow
    assert len([d for d in fast if d[0] != "--"]) > 20  # the steps moved many instances
    # the repeated step delivered nothing: its effect had not changed
    marks = [i for i, d in enumerate(fast) if d[0] == "--"]
    assert marks[4] == marks[3] + 1


def test_followers_alike_share_one_outcome() -> None:
    hub = TrackingHub(loads(CONFIG))
    followers = hub._followers_index()[("process", "p2")]
    # VI_0..VI_2 see p2 as configured, the sync group's VI_3 and VI_4 with weight 0: two outcomes
    assert len(followers) == 5
    assert len({id(outcomes) for _, _, outcomes in followers}) == len({ref for _, ref, _ in followers}) == 2
