"""SIGHUP on a running vipkeeper pair: a broken file changes nothing (VIP, state, adverts stay;
the error is logged and counted); a file with an added instance starts it (its VIP appears on
the Master, adverts for its VRID go out) while the existing instance keeps its state."""

from __future__ import annotations

import signal
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

from .bed_helpers import status

pytestmark = pytest.mark.net

ADV = 0.5
VIP1 = "192.0.2.71/24"
VIP2 = "192.0.2.72/24"


def both(priority: int) -> str:
    return (vrrp_conf("VI_1", vrid=71, priority=priority, vips=[VIP1], advert_int=ADV)
            + vrrp_conf("VI_2", vrid=72, priority=priority, vips=[VIP2], advert_int=ADV))


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=False) as tb:
        tb.start("a", conf=vrrp_conf("VI_1", vrid=71, priority=150, vips=[VIP1], advert_int=ADV))
        tb.start("b", conf=vrrp_conf("VI_1", vrid=71, priority=100, vips=[VIP1], advert_int=ADV))
        tb.wait_sole("a", VIP1, 3 * ADV + 4.0)
        yield tb


def instance(snapshot: dict, name: str) -> dict:
    return next(i for i in snapshot["instances"] if i["name"] == name)


def test_sighup_with_broken_file_keeps_everything(bed: Testbed) -> None:
    before = status(bed, "a")
    assert instance(before, "VI_1")["state"] == "MASTER"
    path = bed.conf_path("a")
    path.write_text(path.read_text().replace("virtual_router_id 71", "virtual_router_id"))  # missing value
    hup = bed.daemon("a").kill(signal.SIGHUP)
    bed.daemon("a").log.wait_line(lambda line: "Reload failed" in line.text, 5.0, after=hup - 0.5)
    time.sleep(4 * ADV)
    end = time.time()
    # the system: the VIP never left a, nobody else took it, a kept advertising at its priority
    assert bed.removed_at("a", VIP1, hup) is None
    assert bed.holders(VIP1) == ["a"]
    assert bed.advertisers(hup, end, 71) == {"a"}
    assert {r.advertisement.priority for _, r in bed.adverts("a", hup, end, 71)} == {150}
    after = status(bed, "a")
    assert instance(after, "VI_1")["state"] == "MASTER"
    assert instance(after, "VI_1")["since"] == instance(before, "VI_1")["since"]
    assert after["daemon"]["reload_failures"] == before["daemon"]["reload_failures"] + 1
    assert after["daemon"]["last_reload_error"]
    assert bed.daemon("a").running


def test_sighup_with_added_instance_starts_it(bed: Testbed) -> None:
    before = status(bed, "a")
    bed.write_conf("b", both(100))
    bed.write_conf("a", both(150))
    hup = time.time()
    bed.daemon("b").kill(signal.SIGHUP)
    bed.daemon("a").kill(signal.SIGHUP)
    bed.wait_sole("a", VIP2, 3 * ADV + 4.0)
    settle = time.time()
    time.sleep(3 * ADV)
    end = time.time()
    assert bed.advertisers(settle, end, 72) == {"a"}
    assert bed.holders(VIP2) == ["a"]
    # the instance that was there is untouched: VIP kept, still the only Master of VRID 71
    assert bed.removed_at("a", VIP1, hup) is None
    assert bed.holders(VIP1) == ["a"]
    assert bed.advertisers(hup, end, 71) == {"a"}
    after = status(bed, "a")
    assert instance(after, "VI_1")["since"] == instance(before, "VI_1")["since"]
    assert instance(after, "VI_2")["state"] == "MASTER"
    assert instance(status(bed, "b"), "VI_2")["state"] == "BACKUP"
