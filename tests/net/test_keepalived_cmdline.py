"""keepalived's command lines, as Debian's unit and common runbooks type them, run against
keepalived 2.2.7, `vipkeeper` (python -m vipkeeper) and a symlink named `keepalived` to the
vipkeeper program found on PATH by that name; each observation (exit status, output shape, files
written, VIPs) must be the same for all three, except the differences listed in DIFFERENT.

Each implementation runs in its own mount, network and PID namespaces with fresh /tmp and /run
(so /run/keepalived.pid, /tmp/keepalived.data are private) and /etc/keepalived bind-mounted to
the test's directory, so `keepalived --dont-fork` with no -f reads the test's file, as the unit does:
  ExecStart=/usr/sbin/keepalived --dont-fork $DAEMON_ARGS      (DAEMON_ARGS="" in /etc/default)
  ExecReload=/bin/kill -HUP $MAINPID
"""

from __future__ import annotations

import shutil
import sys

import pytest

pytestmark = pytest.mark.net

CONF = """\
vrrp_instance VI_1 {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 1
  virtual_ipaddress {{
{vips}
  }}
}}
"""
BROKEN = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n"
# a track script without enable_script_security: keepalived -t says SECURITY VIOLATION, exit 6
SCRIPTED = ("vrrp_script chk {\n  script \"/bin/true\"\n}\n"
            + CONF.format(vips="    192.0.2.50/24").replace("  advert_int 1\n", "  advert_int 1\n  track_script {\n    chk\n  }\n"))

SCRIPT = r"""
res() { echo "$1=$2" >> /mnt/$TAG.res; }
wait_for() { n=0; while ! eval "$1"; do n=$((n+1)); [ $n -gt 300 ] && return 1; sleep 0.05; done; return 0; }
yn() { if eval "$1"; then echo yes; else echo no; fi; }
settled() { last=-1; n=0; while [ $n -lt 100 ]; do
    if [ -f "$1" ]; then s=$(stat -c %s "$1"); [ "$s" = "$last" ] && [ "$s" -gt 0 ] && return 0; last=$s; fi
    n=$((n+1)); sleep 0.05; done; return 1; }
has_vip() { ip -o addr show dev eth0 | grep -q " $1/"; }
: > /mnt/$TAG.res

# runbook one-liners
$KA -v >/mnt/$TAG.v.out 2>/mnt/$TAG.v.err; res version_rc $?
res version_line "$(head -1 /mnt/$TAG.v.err | grep -o '^Keepalived v[0-9.]*')"
res version_stdout_empty $(yn '[ ! -s /mnt/$TAG.v.out ]')
for s in STOP RELOAD DATA STATS STATS_CLEAR JSON TDATA; do
    out=$($KA --signum=$s 2>/mnt/$TAG.s.err); res signum_$s "$?:$out:$(cat /mnt/$TAG.s.err)"
done
$KA --bogus-option 2>/mnt/$TAG.b.err; res bogus_rc "$?:$(cat /mnt/$TAG.b.err)"
$KA -t -f /mnt/good.conf 2>/dev/null; res test_good_rc $?
$KA -t -f /mnt/broken.conf 2>/dev/null; res test_broken_rc $?
$KA -t -f /mnt/scripted.conf 2>/dev/null; res test_security_rc $?
$KA --config-test -f /mnt/good.conf 2>/dev/null; res test_long_good_rc $?
$KA -S 0 -t -f /mnt/good.conf 2>/dev/null; res test_facility0_rc $?
$KA -t -f /mnt/missing.conf 2>/mnt/$TAG.m.err; res test_missing "$?:$(cat /mnt/$TAG.m.err)"

# the unit: keepalived --dont-fork $DAEMON_ARGS, config from /etc/keepalived/keepalived.conf
mkdir -p /mnt/etc-ka; cp /mnt/good.conf /mnt/etc-ka/keepalived.conf; mount --bind /mnt/etc-ka /etc/keepalived
DAEMON_ARGS=""
$KA --dont-fork $DAEMON_ARGS >/mnt/$TAG.unit.log 2>&1 &
MAINPID=$!
wait_for '[ -s /var/run/keepalived.pid ]'; res pidfile $(yn '[ -s /run/keepalived.pid ]')
res pidfile_is_mainpid $(yn '[ "$(cat /run/keepalived.pid)" = "$MAINPID" ]')
wait_for 'has_vip 192.0.2.50'; res vip_taken $(yn 'has_vip 192.0.2.50')
cp /mnt/reload.conf /etc/keepalived/keepalived.conf; /bin/kill -HUP $MAINPID
wait_for 'has_vip 192.0.2.51'; res reload_added_vip $(yn 'has_vip 192.0.2.51')
res still_running_after_reload $(yn 'kill -0 $MAINPID')
kill -USR1 $(cat /var/run/keepalived.pid); settled /tmp/keepalived.data
res data_state_master $(yn 'grep -q "^   State = MASTER$" /tmp/keepalived.data')
res data_new_vip $(yn 'grep -q "^     192.0.2.51/24 dev eth0 scope global set$" /tmp/keepalived.data')
res data_mode "$(stat -c '%a %U' /tmp/keepalived.data)"
kill -USR2 $(cat /var/run/keepalived.pid); settled /tmp/keepalived.stats
res stats_head "$(head -2 /tmp/keepalived.stats | tr '\n' '|')"
kill -s $($KA --signum=JSON) $(cat /run/keepalived.pid); settled /tmp/keepalived.json
res json_state "$(python3 -c 'import json; d = json.load(open("/tmp/keepalived.json")); print(d[0]["data"]["iname"], d[0]["data"]["state"], len(d[0]["data"]["vips"]))')"
kill -TERM $MAINPID; wait $MAINPID; res stop_rc $?
res vip_released $(yn '! has_vip 192.0.2.50 && ! has_vip 192.0.2.51')
res pidfile_removed $(yn '[ ! -e /run/keepalived.pid ]')

# -P -l -D -S 0: VRRP only, log to the console, detailed, facility local0
$KA --dont-fork -P -l -D -S 0 -f /mnt/good.conf >/mnt/$TAG.console.log 2>&1 &
P=$!
wait_for 'grep -q "(VI_1) Entering MASTER STATE" /mnt/$TAG.console.log'
res console_master $(yn 'grep -q "(VI_1) Entering MASTER STATE" /mnt/$TAG.console.log')
kill -TERM $P; wait $P; res console_stop_rc $?

# -V: leave the VIPs in place at stop
$KA --dont-fork -V -P -f /mnt/good.conf >/mnt/$TAG.keep.log 2>&1 &
P=$!
wait_for 'has_vip 192.0.2.50'
kill -TERM $P; wait $P; res keep_stop_rc $?
res keep_vip_after_stop $(yn 'has_vip 192.0.2.50')
"""

# Observations where vipkeeper deliberately differs from keepalived 2.2.7, and why.
# key: (keepalived's value, vipkeeper's value, why)
DIFFERENT = {
    "test_missing": ("0:Config files missing '/mnt/missing.conf'.", "5:Config files missing '/mnt/missing.conf'.",
                     "a reload gate must not pass a file that does not exist; keepalived 2.2.7 exits 0"),
}


def observe(isolated_factory, tmp_path, tag: str, ka: str, link_to: str | None = None) -> dict[str, str]:
    work = tmp_path / tag
    work.mkdir()
    if link_to:  # /mnt/bin/keepalived -> the vipkeeper program (/mnt is `work` in the namespace)
        (work / "bin").mkdir()
        (work / "bin" / "keepalived").symlink_to(link_to)
    (work / "good.conf").write_text(CONF.format(vips="    192.0.2.50/24"))
    (work / "reload.conf").write_text(CONF.format(vips="    192.0.2.50/24\n    192.0.2.51/24"))
    (work / "broken.conf").write_text(BROKEN)
    (work / "scripted.conf").write_text(SCRIPTED)
    run = isolated_factory(work)
    prologue = f"TAG={tag}; KA='{ka}'\n" + ("export PATH=/mnt/bin:$PATH\n" if link_to else "")
    got = run(prologue + SCRIPT, timeout=120)
    res = work / f"{tag}.res"
    assert res.exists(), got.stderr
    found = dict(line.split("=", 1) for line in res.read_text().splitlines())
    found["_log"] = (work / f"{tag}.unit.log").read_text() if (work / f"{tag}.unit.log").exists() else ""
    return found


@pytest.fixture(scope="module")
def observed(tmp_path_factory, isolated_factory) -> dict[str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("cmdline")
    program = shutil.which("vipkeeper")
    assert program, "the vipkeeper program is not on PATH"
    return {
        "keepalived": observe(isolated_factory, tmp, "ka", "/usr/sbin/keepalived"),
        "vipkeeper": observe(isolated_factory, tmp, "vk", f"{sys.executable} -m vipkeeper"),
        # a symlink named keepalived, found by name on PATH as scripts call it
        "symlink": observe(isolated_factory, tmp, "ln", "keepalived", link_to=program),
    }


EXPECTED_FROM_KEEPALIVED = {
    "version_rc": "0", "version_line": "Keepalived v2.2.7", "version_stdout_empty": "yes",
    "signum_STOP": "0:15:", "signum_RELOAD": "0:1:", "signum_DATA": "0:10:", "signum_STATS": "0:12:",
    "signum_STATS_CLEAR": "0:63:", "signum_JSON": "0:36:", "signum_TDATA": "1::Unknown sigfunc TDATA",
    "bogus_rc": "1:Unknown option --bogus-option",
    "test_good_rc": "0", "test_broken_rc": "5", "test_security_rc": "6", "test_missing": DIFFERENT["test_missing"][0], "test_long_good_rc": "0", "test_facility0_rc": "0",
    "pidfile": "yes", "pidfile_is_mainpid": "yes", "vip_taken": "yes", "reload_added_vip": "yes",
    "still_running_after_reload": "yes", "data_state_master": "yes", "data_new_vip": "yes",
    "data_mode": "600 root", "stats_head": "VRRP Instance: VI_1|  Advertisements:|",
    "json_state": "VI_1 2 2", "stop_rc": "0", "vip_released": "yes", "pidfile_removed": "yes",
    "console_master": "yes", "console_stop_rc": "0", "keep_stop_rc": "0", "keep_vip_after_stop": "yes",
}


def test_keepalived_itself_behaves_as_measured(observed) -> None:
    """The reference: if keepalived's own behaviour changes, the comparison below means nothing."""
    ka = {k: v for k, v in observed["keepalived"].items() if not k.startswith("_")}
    assert ka == EXPECTED_FROM_KEEPALIVED


@pytest.mark.parametrize("who", ["vipkeeper", "symlink"])
def test_same_behaviour_as_keepalived(observed, who: str) -> None:
    ka = {k: v for k, v in observed["keepalived"].items() if not k.startswith("_")}
    got = {k: v for k, v in observed[who].items() if not k.startswith("_")}
    differences = {k: (ka[k], got.get(k)) for k in ka if ka[k] != got.get(k) and k not in DIFFERENT}
    assert differences == {}, observed[who]["_log"][-3000:]
    for key, (_, ours, _why) in DIFFERENT.items():
        assert got[key] == ours, key


def test_symlink_logs_as_keepalived(observed) -> None:
    # started by keepalived's command line, the ident is keepalived's VRRP child's (and this
    # proves the symlink ran vipkeeper: keepalived's own console lines have no ident)
    assert "Keepalived_vrrp[" in observed["symlink"]["_log"]
    assert "Starting vipkeeper" in observed["symlink"]["_log"]
    assert "Keepalived_vrrp[" in observed["vipkeeper"]["_log"]
