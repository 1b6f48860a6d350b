"""vrrp_rt_priority, vrrp_no_swap, vrrp_cpu_affinity, vrrp_rlimit_rttime and vrrp_priority, read back
from /proc of a running vipkeeper and of keepalived 2.2.7's VRRP child started with the same file:
both show the same scheduling policy, real-time priority, CPU list, RLIMIT_RTTIME (soft = half
the hard limit), locked memory and nice value. A notify script started by the real-time daemon
runs as an ordinary process (SCHED_RESET_ON_FORK, as keepalived)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

CONF = """global_defs {{
  script_user root
  enable_script_security
{tuning}
}}
vrrp_instance VI_1 {{
  state MASTER
  interface eth0
  virtual_router_id 61
  priority 150
  advert_int 1
  notify_master "{script} {marker}"
  virtual_ipaddress {{
    192.0.2.61/24
  }}
}}
"""

SCRIPT = "#!/bin/sh\ncat /proc/$$/stat > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\n"


def proc_facts(pid: int) -> dict[str, object]:
    """What /proc says about a process's scheduling and memory."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields after the comm: state is field 3, so field N is stat[N - 3]
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    limits = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                  if line.startswith("Max realtime timeout"))
    soft, hard = limits.split()[3:5]
    return {"nice": int(stat[19 - 3]), "rt_priority": int(stat[40 - 3]), "policy": int(stat[41 - 3]),
            "cpus": status["Cpus_allowed_list"].strip(), "locked": int(status["VmLck"].split()[0]) > 0,
            "rttime": (soft, hard)}


def _start(kind: str, ns: str, conf: Path, tmp_path: Path, tag: str) -> HostDaemon:
    daemon = HostDaemon(kind, ns, conf, tmp_path, tag)
    daemon.start()
    return daemon


def _facts_when(daemon: HostDaemon, ready, what: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    def pid() -> int | None:
        return daemon.vrrp_child() if daemon.kind == "keepalived" else (daemon.pid if daemon.running else None)

    wait_for(lambda: pid() is not None and ready(proc_facts(pid())), 20, what=what)  # type: ignore[arg-type]
    found = pid()
    assert found is not None
    return proc_facts(found)


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_real_time_scheduling_locked_memory_affinity_rlimit(topology: Topology, lan, tmp_path: Path,
                                                            kind: str) -> None:
    script = tmp_path / "probe.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    marker = tmp_path / f"{kind}.stat"
    conf = tmp_path / f"{kind}.conf"
    cpu = max(os.sched_getaffinity(0))
    conf.write_text(CONF.format(tuning=f"  vrrp_rt_priority 20\n  vrrp_priority -5\n  vrrp_no_swap\n"
                                       f"  vrrp_cpu_affinity {cpu}\n  vrrp_rlimit_rttime 50000",
                                script=script, marker=marker))
    daemon = _start(kind, lan["a"].ns, conf, tmp_path, kind)
    try:
        facts = _facts_when(daemon, lambda f: f["policy"] == 2 and f["locked"] and f["cpus"] == str(cpu),
                            f"{kind} tuned")
        # SCHED_RR (2) at 20, only the CPU asked for, memory locked, RLIMIT_RTTIME soft half of hard;
        # vrrp_priority is not applied with vrrp_rt_priority (keepalived's rule): nice stays 0
        assert facts == {"nice": 0, "rt_priority": 20, "policy": 2, "cpus": str(cpu), "locked": True,
                         "rttime": ("25000", "50000")}, (kind, facts)
        wait_for(marker.exists, 20, what=f"{kind} notify_master ran")
        child = marker.read_text().rsplit(")", 1)[1].split()
        assert (int(child[41 - 3]), int(child[40 - 3])) == (0, 0), "a script runs as an ordinary process"
    finally:
        daemon.stop()
    assert not daemon.running


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_nice_without_real_time(topology: Topology, lan, tmp_path: Path, kind: str) -> None:
    script = tmp_path / "probe.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    marker = tmp_path / f"{kind}.stat"
    conf = tmp_path / f"{kind}.conf"
    conf.write_text(CONF.format(tuning="  vrrp_priority -7", script=script, marker=marker))
    daemon = _start(kind, lan["a"].ns, conf, tmp_path, kind)
    try:
        facts = _facts_when(daemon, lambda f: f["nice"] == -7, f"{kind} at nice -7")
        assert (facts["policy"], facts["rt_priority"], facts["locked"]) == (0, 0, False), (kind, facts)
        wait_for(marker.exists, 20, what=f"{kind} notify_master ran")
        child = marker.read_text().rsplit(")", 1)[1].split()
        assert int(child[19 - 3]) == 0, f"{kind}: the script does not inherit the daemon's nice -7"
    finally:
        daemon.stop()


UNKNOWN_CONF = """global_defs {{
  log_unknown_vrids
  umask 027
}}
vrrp_instance VI_1 {{
  state BACKUP
  interface eth0
  virtual_router_id {vrid}
  priority 100
  advert_int 1
  virtual_ipaddress {{
    192.0.2.{vrid}/24
  }}
}}
"""


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_umask_and_log_unknown_vrids(topology: Topology, lan, tmp_path: Path, kind: str) -> None:
    """b hears a's adverts for a VRID it has no instance for and logs keepalived's line; its umask
    is the configured one."""
    (tmp_path / "a.conf").write_text(UNKNOWN_CONF.format(vrid=70).replace("  log_unknown_vrids\n  umask 027\n", ""))
    (tmp_path / "b.conf").write_text(UNKNOWN_CONF.format(vrid=71))
    a = HostDaemon("vipkeeper", lan["a"].ns, tmp_path / "a.conf", tmp_path, "a")
    b = HostDaemon(kind, lan["b"].ns, tmp_path / "b.conf", tmp_path, kind)
    a.start()
    b.start()
    try:
        wait_for(lambda: any("Unknown VRID(70) received on interface(eth0). ignoring..." in line
                             for line in b.log_lines()), 20, what=f"{kind} logs the unknown VRID")
        pid = b.vrrp_child() if kind == "keepalived" else b.pid
        assert pid is not None
        umask = next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                     if line.startswith("Umask:"))
        assert umask == "0027", (kind, umask)
    finally:
        a.stop()
        b.stop()


UMASK_SCRIPT = "#!/bin/sh\numask > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\n"


def test_scripts_start_with_keepalived_umask(topology: Topology, lan, tmp_path: Path) -> None:
    """A notify script's umask, without `umask` in global_defs and with `umask 027`, is the same
    under vipkeeper as under keepalived 2.2.7 started with the same file (keepalived's default
    is 0177, not the 022 of its man page: files a script creates are the owner's alone)."""
    script = tmp_path / "umask.sh"
    script.write_text(UMASK_SCRIPT)
    script.chmod(0o755)
    seen: dict[tuple[str, str], str] = {}
    for setting in ("", "  umask 027"):
        for kind in ("keepalived", "vipkeeper"):
            marker = tmp_path / f"{kind}{len(setting)}.umask"
            conf = tmp_path / f"{kind}{len(setting)}.conf"
            conf.write_text(CONF.format(tuning=setting, script=script, marker=marker))
            daemon = _start(kind, lan["a"].ns, conf, tmp_path, f"{kind}{len(setting)}")
            try:
                wait_for(marker.exists, 20, what=f"{kind} notify_master ran")
                seen[(kind, setting)] = marker.read_text().strip()
            finally:
                daemon.stop()
    assert seen[("vipkeeper", "")] == seen[("keepalived", "")], seen
    assert seen[("vipkeeper", "  umask 027")] == seen[("keepalived", "  umask 027")] == "0027", seen
    assert seen[("keepalived", "")] != "0022", "keepalived's default was measured as 0177, not its man page's 022"
