"""Issue 20 #4: SIGHUP with a file that is slow to parse must not freeze a Master.

Before the fix the file was parsed on the event loop: a 1 KB file whose `$` definitions
multiply into empty lines froze the Master (for hours: the lexer's budget missed the case) and
the Backup took the VIP while the Master still held it. Now the lexer gives up within its
budget (about two seconds here), the parse runs in a thread, and the Master's adverts keep
their interval throughout: the Backup never takes over.
"""

from __future__ import annotations

import itertools
import signal
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

ADV = 0.2
VIP = "192.0.2.74/24"


def hostile(depth: int = 30, fan: int = 4) -> str:
    lines = ["$E="]
    prev = "E"
    for i in range(1, depth + 1):
        lines.append(f"$D{i}=\\")
        lines += [f"${prev} \\"] * (fan - 1) + [f"${prev}"]
        prev = f"D{i}"
    lines.append(f"${prev}")
    return "\n".join(lines) + "\n"


def test_master_keeps_advertising_while_a_slow_file_is_parsed(topology) -> None:
    with Testbed(topology, ("a", "b"), ipv6=False) as bed:
        bed.start("a", conf=vrrp_conf("VI_1", vrid=74, priority=150, vips=[VIP], advert_int=ADV))
        bed.start("b", conf=vrrp_conf("VI_1", vrid=74, priority=100, vips=[VIP], advert_int=ADV))
        bed.wait_sole("a", VIP, 3 * ADV + 4.0)
        path = bed.conf_path("a")
        path.write_text(path.read_text() + hostile())
        hup = bed.daemon("a").kill(signal.SIGHUP)
        failed = bed.daemon("a").log.wait_line(lambda line: "Reload failed" in line.text, 60.0, after=hup - 0.5)
        assert "logical lines" in failed.text
        parse_time = failed.time - hup
        time.sleep(4 * ADV)  # an observation window after the parse, not a synchronisation
        end = time.time()
        print(f"hostile file parse during reload: {parse_time:.2f}s")
        assert parse_time > 3 * ADV, "the file parsed too fast to prove anything"
        sent = [f.time for f, r in bed.adverts("a", hup, end, 74) if r.advertisement.priority > 0]
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        print(f"adverts during the parse: {len(sent)}, mean gap {sum(gaps) / len(gaps):.3f}s, "
              f"largest {max(gaps):.3f}s (interval {ADV}s)")
        # the safety property: no gap near the Backup's master-down interval (3 x ADV + skew);
        # on a loaded machine adverts may each run a little late, never stop
        assert max(gaps) < 2 * ADV
        assert len(sent) >= (end - hup) / (1.5 * ADV)
        assert bed.advertisers(hup, end, 74) == {"a"}
        assert bed.holders(VIP) == ["a"]
        assert bed.dual_holding(VIP, hup) == []
