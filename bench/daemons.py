"""vipkeeper and keepalived as the bench starts, signals and measures them.

Both run in the initial network and PID namespaces and are pointed at a lab namespace with
their own option (`vipkeeper run --netns NS`, `keepalived --namespace NS`): each then opens the
process connector before entering NS, so both track processes event-driven, against processes
of the initial PID namespace -- the only fair side by side, since keepalived's tracker works
nowhere else. One configuration text serves both; `fast_handover` is written for vipkeeper only
(keepalived would warn about an unknown keyword).

CPU time is read from /proc/PID/stat (utime+stime, clock ticks) of every process of the daemon:
vipkeeper is one process; keepalived is a parent plus its VRRP child.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

TICK = os.sysconf("SC_CLK_TCK")
VK_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) ")


@dataclass
class Instance:
    """One vrrp_instance as both daemons read it."""

    name: str
    interface: str
    vrid: int
    priority: int
    advert_int: float
    version: int
    vips: list[str]
    track: str | None = None  # vrrp_track_process name
    fast_handover: bool = False
    unicast_src: str | None = None


@dataclass
class Config:
    instances: list[Instance]
    tracked: dict[str, tuple[str, int]] = field(default_factory=dict)  # tracker -> (process, weight)
    notify_fifo: str | None = None
    router_id: str = "bench"

    def text(self, impl: str) -> str:
        out = ["global_defs {", f"  router_id {self.router_id}"]
        if self.notify_fifo:
            out.append(f"  notify_fifo {self.notify_fifo}")
        out.append("}")
        for name, (process, weight) in self.tracked.items():
            out += [f"vrrp_track_process {name} {{", f"  process {process}", f"  weight {weight}", "}"]
        for inst in self.instances:
            out += [
                f"vrrp_instance {inst.name} {{",
                "  state BACKUP",
                f"  interface {inst.interface}",
                f"  virtual_router_id {inst.vrid}",
                f"  priority {inst.priority}",
                f"  advert_int {inst.advert_int:g}",
            ]
            if inst.version == 3:
                out.append("  version 3")
            if inst.track:
                out += ["  track_process {", f"    {inst.track}", "  }"]
            if inst.fast_handover and impl == "vipkeeper":
                out.append("  fast_handover")
            out.append("  virtual_ipaddress {")
            out += [f"    {vip}" for vip in inst.vips]
            out += ["  }", "}"]
        return "\n".join(out) + "\n"


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Daemon:
    """A daemon process started by the bench; stopped by PID (its process group), never by name."""

    impl = ""

    def __init__(self, ns: str, config: Config, workdir: str, tag: str) -> None:
        self.ns = ns
        self.config = config
        self.workdir = workdir
        self.tag = tag
        self.conf_path = os.path.join(workdir, f"{tag}.conf")
        self.log_path = os.path.join(workdir, f"{tag}.log")
        self.pid_path = os.path.join(workdir, f"{tag}.pid")
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.starts = 0
        with open(self.conf_path, "w") as f:
            f.write(config.text(self.impl))

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        # Fresh pid files per start: PID 1 of this sandbox reaps orphans late, and keepalived
        # refuses to start while the PID in an old pid file is still a zombie.
        self.starts += 1
        self.pid_path = os.path.join(self.workdir, f"{self.tag}.{self.starts}.pid")
        with open(self.log_path, "ab") as log:
            self.started_at = time.time()
            self.popen = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def pids(self) -> list[int]:
        return [self.pid] if self.running else []

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids())

    def rss(self) -> int:
        return sum(rss_kib(p) for p in self.pids())

    def signal(self, sig: int) -> None:
        """Signal the daemon the way an admin (TERM) or a crash (KILL) would reach it."""
        if self.running:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> bool:
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen is None:
            return
        if self.running:
            self.signal(signal.SIGTERM)
            if not self.wait(timeout):
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait(timeout)
        try:  # anything the daemon left in its process group (scripts, children)
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def log_lines(self) -> list[str]:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []


class Vipkeeper(Daemon):
    impl = "vipkeeper"

    def argv(self) -> list[str]:
        exe = shutil.which("vipkeeper")
        base = [exe] if exe else [sys.executable, "-m", "vipkeeper"]
        return base + ["run", "-n", "-l", "--no-syslog", "--netns", self.ns, "-f", self.conf_path,
                       "-p", self.pid_path, "--control-socket", os.path.join(self.workdir, f"{self.tag}.ctl")]

    def status(self) -> dict | None:
        exe = shutil.which("vipkeeper")
        base = [exe] if exe else [sys.executable, "-m", "vipkeeper"]
        done = subprocess.run(base + ["status", "--socket", os.path.join(self.workdir, f"{self.tag}.ctl"), "--json"],
                              capture_output=True, text=True, timeout=10, check=False)
        if done.returncode != 0:
            return None
        import json

        try:
            return json.loads(done.stdout)
        except ValueError:
            return None


class Keepalived(Daemon):
    impl = "keepalived"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.vrrp_pid_path = ""

    def argv(self) -> list[str]:
        self.vrrp_pid_path = os.path.join(self.workdir, f"{self.tag}.{self.starts}.vrrp.pid")
        return ["keepalived", "-n", "-l", "-G", "-P", "-R", "--namespace", self.ns, "-f", self.conf_path,
                "-p", self.pid_path, "-r", self.vrrp_pid_path]

    def vrrp_child(self) -> int | None:
        if not self.running:
            return None
        try:
            with open(self.vrrp_pid_path) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        try:  # a stale file from the previous start must not name someone else's process
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return None
        return pid if ppid == self.pid else None

    def pids(self) -> list[int]:
        child = self.vrrp_child()
        return super().pids() + ([child] if child else [])

    def signal(self, sig: int) -> None:
        """SIGKILL takes the VRRP child down first: killing only the parent would make the child
        see its parent die and shut down cleanly (priority 0), which is not a crash."""
        if sig == signal.SIGKILL:
            child = self.vrrp_child()
            if child:
                os.kill(child, sig)
        super().signal(sig)


IMPLS = {"vipkeeper": Vipkeeper, "keepalived": Keepalived}


def versions() -> dict[str, str]:
    ka = subprocess.run(["keepalived", "--version"], capture_output=True, text=True, check=False)
    first = (ka.stderr or ka.stdout).splitlines()[:1]
    try:
        from vipkeeper import __version__ as vk
    except ImportError:
        vk = "?"
    return {"vipkeeper": vk, "keepalived": first[0] if first else "?", "python": sys.version.split()[0],
            "kernel": os.uname().release}
