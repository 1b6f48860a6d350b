"""keepalived's dump files, section by section: keepalived 2.2.7 and vipkeeper on the same
configuration in the same kind of namespace, each sent SIGUSR1, SIGUSR2, the JSON signal (36)
and STATS_CLEAR (63), and their files compared.

- /tmp/keepalived.data: vipkeeper's lines are keepalived's lines (same text, same indentation,
  same order); every keepalived line vipkeeper leaves out is named in NOT_PRODUCED with the reason;
- /tmp/keepalived.stats: the same lines with the numbers blanked; STATS_CLEAR zeroes them;
- /tmp/keepalived.json: the same keys, and the same values for what both know.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from vipkeeper.daemon.keepalived_dump import (
    JSON_NOT_PRODUCED,
    NOT_PRODUCED,
    NOT_PRODUCED_SECTIONS,
)

pytestmark = pytest.mark.net

CONF = """\
global_defs {
  router_id node1
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass secret1
  }
  virtual_ipaddress {
    192.0.2.50/24
  }
}
vrrp_instance VI_2 {
  state BACKUP
  interface eth0
  virtual_router_id 52
  version 3
  priority 100
  advert_int 1
  nopreempt
  virtual_ipaddress {
    192.0.2.60/24
    192.0.2.61/24
  }
}
"""

# Wait (bounded) for a file to exist and stop growing: keepalived writes its dumps in place.
SCRIPT = r"""
settled() { n=0; last=-1; while [ $n -lt 100 ]; do
    if [ -f "$1" ]; then s=$(stat -c %s "$1"); [ "$s" = "$last" ] && [ "$s" -gt 0 ] && return 0; last=$s; fi
    n=$((n+1)); sleep 0.05; done; echo "no $1" >&2; return 1; }
$DAEMON -n -l -P -f /mnt/k.conf >/mnt/$TAG.log 2>&1 &
n=0; while [ ! -s /run/keepalived.pid ] && [ $n -lt 100 ]; do n=$((n+1)); sleep 0.05; done
P=$(cat /run/keepalived.pid)
n=0; until [ $(grep -c 'Entering MASTER STATE' /mnt/$TAG.log) -ge 2 ] || [ $n -gt 300 ]; do n=$((n+1)); sleep 0.05; done
for pair in USR1:data USR2:stats 36:json; do
    sig=${pair%%:*}; f=/tmp/keepalived.${pair##*:}
    kill -$sig $P; settled $f && cp $f /mnt/$TAG.${pair##*:}
done
rm -f /tmp/keepalived.stats; kill -63 $P; settled /tmp/keepalived.stats && cp /tmp/keepalived.stats /mnt/$TAG.stats_clear
rm -f /tmp/keepalived.stats; kill -USR2 $P; settled /tmp/keepalived.stats && cp /tmp/keepalived.stats /mnt/$TAG.stats_after
kill -TERM $P; wait
"""

SECTION_RE = re.compile(r"^------< (.+) >------$")


def dumps(isolated, tag: str, daemon: str) -> dict[str, str]:
    (isolated.work / "k.conf").write_text(CONF)
    got = isolated(f"TAG={tag}; DAEMON='{daemon}'\n" + SCRIPT, timeout=60)
    files = {}
    for kind in ("data", "stats", "json", "stats_clear", "stats_after"):
        path = isolated.work / f"{tag}.{kind}"
        assert path.exists(), f"{tag}: no {kind} dump\n{got.stderr}\n{(isolated.work / f'{tag}.log').read_text()}"
        files[kind] = path.read_text()
    files["log"] = (isolated.work / f"{tag}.log").read_text()
    return files


@pytest.fixture(scope="module")
def both(tmp_path_factory, isolated_factory) -> dict[str, dict[str, str]]:
    return {tag: dumps(isolated_factory(tmp_path_factory.mktemp(tag)), tag, daemon)
            for tag, daemon in (("ka", "/usr/sbin/keepalived"), ("vk", f"{sys.executable} -m vipkeeper"))}


def sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = SECTION_RE.match(line)
        if m:
            current = m.group(1)
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def normal(line: str) -> str:
    """Values that differ between any two runs (times) blanked."""
    return re.sub(r"= \d+\.\d+ \(.*\)$", "= <time>", line)


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def test_data_dump_sections_and_lines(both) -> None:
    ka, vk = sections(both["ka"]["data"]), sections(both["vk"]["data"])
    assert list(vk) == ["Global definitions", "VRRP Topology"]
    assert set(ka) - set(vk) == set(NOT_PRODUCED_SECTIONS), "a keepalived section neither produced nor listed"
    for name in vk:
        ka_lines, vk_lines = [normal(x) for x in ka[name]], [normal(x) for x in vk[name]]
        # every vipkeeper line is keepalived's line, in keepalived's order
        assert is_subsequence(vk_lines, ka_lines), (name, [x for x in vk_lines if x not in ka_lines])
        missing = [x for x in ka_lines if x not in vk_lines]
        unlisted = [x for x in missing if not any(x.strip().startswith(p) for p, _ in NOT_PRODUCED)]
        assert unlisted == [], f"{name}: keepalived lines vipkeeper neither writes nor lists in NOT_PRODUCED"
    # the per-instance facts that matter, spelled out
    for line in ("   State = MASTER", "   Priority = 150", "   Virtual Router ID = 52", "   Preempt = disabled",
                 "     192.0.2.60/24 dev eth0 scope global set", "   Virtual IP (2):", "   Using src_ip = 192.0.2.1",
                 "   Authentication type = SIMPLE_PASSWORD", "   Advert interval = 1000 milli-sec"):
        assert line in vk["VRRP Topology"] and line in ka["VRRP Topology"], line


def test_stats_dump_layout_and_clear(both) -> None:
    def shape(text: str) -> list[str]:
        return [re.sub(r"\d+$", "N", x) for x in text.splitlines()]

    ka, vk = both["ka"], both["vk"]
    assert shape(vk["stats"]) == shape(ka["stats"])
    assert shape(vk["stats_clear"]) == shape(ka["stats_clear"])
    for files in (ka, vk):
        # both Masters sent adverts and became master once per instance before the clear ...
        assert files["stats"].count("  Became master: 1") == 2
        assert files["stats_clear"].count("  Became master: 1") == 2
        # ... and STATS_CLEAR wrote the counters, then zeroed them
        assert files["stats_after"].count("  Became master: 0") == 2
        sent_before = [int(x) for x in re.findall(r"    Sent: (\d+)", files["stats_clear"].split("Priority Zero")[0])]
        sent_after = [int(x) for x in re.findall(r"    Sent: (\d+)", files["stats_after"].split("Priority Zero")[0])]
        assert sent_before[0] >= 1 and sent_after[0] < sent_before[0]


def test_json_dump_keys_and_values(both) -> None:
    ka, vk = json.loads(both["ka"]["json"]), json.loads(both["vk"]["json"])
    assert isinstance(ka, list) and isinstance(vk, list)
    assert [r["data"]["iname"] for r in vk] == [r["data"]["iname"] for r in ka] == ["VI_1", "VI_2"]
    for k, v in zip(ka, vk):
        assert set(v) == set(k) == {"data", "stats"}
        assert set(v["data"]) == set(k["data"]) - set(JSON_NOT_PRODUCED)
        assert set(v["stats"]) == set(k["stats"])
        for key in ("iname", "vrid", "base_priority", "effective_priority", "state", "wantstate", "version",
                    "vips", "ifp_ifname", "adver_int", "master_adver_int", "garp_delay", "garp_rep",
                    "garp_refresh", "garp_refresh_rep", "garp_lower_prio_delay", "garp_lower_prio_rep",
                    "accept", "nopreempt", "preempt_delay", "auth_type", "vipset", "dont_track_primary",
                    "skip_check_adv_addr", "strict_mode", "vmac_ifname", "master_priority",
                    "lower_prio_no_advert", "higher_prio_send_advert", "promote_secondaries",
                    "smtp_alert", "notify_deleted"):
            assert v["data"][key] == k["data"][key], key
        assert v["data"]["state"] == 2
    assert ka[0]["data"]["auth_type"] == 1 and "secret1" not in both["vk"]["json"] + both["vk"]["data"]


def test_signal_log_lines_are_keepalived_wording(both) -> None:
    for phrase in ("Printing VRRP data for process(", "Printing VRRP stats for process(",
                   "Printing VRRP as json for process(", "Printing and clearing VRRP stats for process("):
        assert phrase in both["ka"]["log"] and phrase in both["vk"]["log"], phrase
