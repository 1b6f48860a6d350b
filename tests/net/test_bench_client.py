"""The client-side benchmark (bench/client.py, figure 8) end to end, short: one relay pair with
real haproxy and postfix on two nodes, vipkeeper with `fast_handover` on the seed's fixed
configuration, the SMTP client in its own namespace sending through the VIP. One run of "haproxy
SIGKILLed on the Master": the VIP must move to b, the client's refused sessions must be counted
and the outage must cover the tracker's `delay 1`; then the mail accounting must close: every
accepted id is found in a maildir or reported lost, and the harness must notice a message that
disappears (reported lost) or appears twice (reported duplicate). About 20 s here."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from bench.client import mail_fate, run_pair
from bench.relay import VIP, RelayPair
from vipkeeper.lab.nodes import make_workdir

pytestmark = pytest.mark.net

DELAY = 1.0  # `delay 1` of both vrrp_track_process blocks in smtp-relay-node1/2.conf


@pytest.fixture
def pair():
    workdir = make_workdir("vkclient-test-")
    relay = RelayPair("vipkeeper", True, workdir, "test")
    try:
        yield relay
    finally:
        relay.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_client_sees_the_failover_and_every_accepted_id_is_accounted_for(pair: RelayPair) -> None:
    warnings: list[str] = []
    runs: list[dict] = []
    started = time.time()
    run_pair(pair, ["haproxy"], 1, rate=20.0, concurrency=64, out=runs, log=warnings.append)
    assert warnings == []
    (run,) = runs
    # the failover happened: b took the VIP, after the tracker's delay
    moved = pair.nodes["b"].watch.first(VIP, added=True, after=run["t0"])
    assert moved is not None and run["vip_moved_ms"] is not None
    assert DELAY * 1000 - 50 <= run["vip_moved_ms"] < 5000
    # the client saw it: sessions refused while haproxy was dead and the VIP still on a
    assert run["failed"] >= 3 and run["kinds"].get("refused", 0) >= 3, run["kinds"]
    assert run["failed"] == len(run["failed_ids"]) == sum(run["kinds"].values())
    assert DELAY * 1000 - 100 <= run["outage_ms"] < 6000
    # good sessions before and after the failure
    assert len(run["accepted_ids"]) >= 10
    assert run["sessions"] == len(run["all_ids"]) == len(run["accepted_ids"]) + run["failed"]
    # a is back as the sole holder (restore + preemption)
    assert pair.holders() == ["a"]

    mail_fate(pair, runs, 30.0)
    delivered = pair.delivered()
    accepted = set(run["accepted_ids"])
    assert accepted <= set(delivered) | set(run["lost"]) | set(run["queued"])
    assert run["lost"] == [] and run["queued"] == [] and run["dup"] == []
    assert all(len(delivered[i]) == 1 for i in accepted)
    assert all(delivered[i] == ["a"] for i in accepted if i in delivered and int(i.rsplit("-", 1)[1]) <= 3)

    # the accounting is not vacuous: one message removed is reported lost, one copied a duplicate
    box = pair.nodes["a"].mail / "box" / "new"
    files = sorted(os.scandir(box), key=lambda e: e.name)
    ids = {}
    for entry in files:
        with open(entry.path, "rb") as f:
            for line in f.read().splitlines():
                if line.startswith(b"X-Bench-Id: "):
                    ids[line.split()[1].decode()] = entry.path
    gone, twice = sorted(i for i in ids if i in accepted)[:2]
    os.unlink(ids[gone])
    (pair.nodes["b"].mail / "box" / "new").mkdir(parents=True, exist_ok=True)
    shutil.copy(ids[twice], str(pair.nodes["b"].mail / "box" / "new" / "copied"))
    for key in ("lost", "queued", "dup", "unconfirmed_delivered"):
        run.pop(key)
    mail_fate(pair, runs, 5.0)
    assert run["lost"] == [gone]
    assert run["dup"] == [twice]
    assert time.time() - started < 110
