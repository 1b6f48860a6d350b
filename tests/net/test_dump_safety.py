"""Issue 20 #7, keepalived's 2018 /tmp pattern, against the running daemon at keepalived's own
paths: in a private /tmp (mode 1777, as the real one), a symlink planted at /tmp/keepalived.data
and a file another user created at /tmp/keepalived.stats are never written through or taken
over; the dump that has no planted file (/tmp/keepalived.json) is written, root's and 0600."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.net

CONF = """\
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    192.0.2.50/24
  }
}
"""

SCRIPT = r"""
wait_for() { n=0; while ! eval "$1"; do n=$((n+1)); [ $n -gt 200 ] && return 1; sleep 0.05; done; }
echo original > /mnt/victim
ln -s /mnt/victim /tmp/keepalived.data
echo theirs > /tmp/keepalived.stats; chown 65534:65534 /tmp/keepalived.stats
$VK -n -l -P -f /mnt/k.conf >/mnt/vk.log 2>&1 &
P=$!
wait_for 'grep -q "Entering BACKUP STATE" /mnt/vk.log'
kill -USR1 $P; kill -USR2 $P; kill -36 $P
wait_for '[ -s /tmp/keepalived.json ] && [ $(grep -c "Not writing" /mnt/vk.log) -ge 2 ]'
{
echo "victim=$(cat /mnt/victim)"
echo "data_link=$(readlink /tmp/keepalived.data)"
echo "stats=$(cat /tmp/keepalived.stats) $(stat -c '%u' /tmp/keepalived.stats)"
echo "json=$(stat -c '%u %a' /tmp/keepalived.json)"
echo "leftovers=$(ls -A /tmp | grep -c '^\.keepalived')"
echo "alive=$(kill -0 $P && echo yes)"
} > /mnt/result
kill -TERM $P; wait $P
"""


def test_planted_link_and_foreign_file_are_never_written_through(isolated) -> None:
    (isolated.work / "k.conf").write_text(CONF)
    got = isolated(f"VK='{sys.executable} -m vipkeeper'\n" + SCRIPT, timeout=60)
    result = isolated.work / "result"
    assert result.exists(), got.stderr
    found = dict(line.split("=", 1) for line in result.read_text().splitlines())
    log = (isolated.work / "vk.log").read_text()
    assert found["victim"] == "original"
    assert found["data_link"] == "/mnt/victim"  # the link is still there, still a link
    assert found["stats"] == "theirs 65534"  # the other user's file: not written, not replaced
    assert found["json"] == "0 600"
    assert found["leftovers"] == "0"
    assert found["alive"] == "yes"
    assert "Not writing /tmp/keepalived.data: /tmp/keepalived.data is a symbolic link" in log
    assert "Not writing /tmp/keepalived.stats: /tmp/keepalived.stats exists and belongs to uid 65534" in log
