"""vipkeeper and keepalived as the bench configures, starts, signals and measures them.

Both run in the initial network and PID namespaces and are pointed at a lab namespace with
their own option (`vipkeeper run --netns NS`, `keepalived --namespace NS`): each then opens the
process connector before entering NS, so both track processes event-driven, against processes
of the initial PID namespace -- the only fair side by side, since keepalived's tracker works
nowhere else. Starting, signalling, stopping and reading the log are the lab's
(`vipkeeper.lab.nodes.HostDaemon`, shared with the fault campaign); this module adds what only
the bench needs: one configuration text for both (`fast_handover` is written for vipkeeper
only; keepalived would warn about an unknown keyword; so is the quorum witness) and CPU and
memory readings.

CPU time is read from /proc/PID/stat (utime+stime, clock ticks) of every process of the daemon:
vipkeeper is one process; keepalived is a parent plus its VRRP child.

vipkeeper starts as the package runs it: with the Environment= of debian/vipkeeper.service
(PYTHONOPTIMIZE=2, PYTHONNODEBUGRANGES=1, its bytecode cache), on bytecode written as the
package's postinst writes it (`compile_as_installed`), both read from the package's own files so
that the bench cannot drift from them.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vipkeeper.lab.nodes import HostDaemon, daemon_python

TICK = os.sysconf("SC_CLK_TCK")
DEBIAN = Path(__file__).resolve().parents[1] / "debian"
INSTALLED = "/usr/lib/python3/dist-packages/vipkeeper"
UNIT_CACHE = "/var/cache/vipkeeper/pycache"
# The bench's stand-in for UNIT_CACHE (compile_as_installed sets it; None: not compiled yet)
_cache: list[str] = []


# The console script that Debian's build (pybuild's pyproject plugin, the `installer` module)
# writes as /usr/sbin/vipkeeper for pyproject.toml's [project.scripts] entry.
ENTRY_SCRIPT = """#!/usr/bin/python3
# -*- coding: utf-8 -*-
import re
import sys
from vipkeeper.cli import entry
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(entry())
"""


def unit_environment() -> dict[str, str]:
    """The variables debian/vipkeeper.service's Environment= lines set for the daemon, its bytecode
    cache moved to the bench's own (compile_as_installed)."""
    env: dict[str, str] = {}
    for line in (DEBIAN / "vipkeeper.service").read_text().splitlines():
        if line.startswith("Environment="):
            for word in shlex.split(line.removeprefix("Environment=")):
                name, _, value = word.partition("=")
                env[name] = value
    if env.get("PYTHONPYCACHEPREFIX") == UNIT_CACHE and _cache:
        env["PYTHONPYCACHEPREFIX"] = _cache[0]
    return env


def postinst_commands(python: str, package_dir: str, cache: str) -> list[tuple[dict[str, str], list[str]]]:
    """debian/vipkeeper.postinst's bytecode commands as (environment, argv), with `python`, the
    package at `package_dir` and the cache at `cache` in place of the installed paths."""
    out = []
    for line in (DEBIAN / "vipkeeper.postinst").read_text().replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        env = {}
        while words and "=" in words[0] and not words[0].startswith("/"):
            name, _, value = words.pop(0).partition("=")
            env[name] = value.replace(UNIT_CACHE, cache)
        if not words or words[0] != "/usr/bin/python3" or "PYTHONPYCACHEPREFIX" not in env:
            continue
        cut = next((i for i, w in enumerate(words) if w.startswith((">", "|"))), len(words))
        out.append((env, [python, *(package_dir if w == INSTALLED else w for w in words[1:cut])]))
    if len(out) != 2:
        raise RuntimeError(f"debian/vipkeeper.postinst: expected 2 bytecode commands, found {len(out)}")
    return out


def compile_as_installed(workdir: str) -> str:
    """Bytecode for the daemon's interpreter as the installed package has it: py3compile's .pyc
    (the client commands') and the postinst's cache for the daemon, here under `workdir`. Returns
    a note for the table."""
    import vipkeeper

    directory = os.path.dirname(vipkeeper.__file__)
    subprocess.run([daemon_python(), "-m", "compileall", "-q", directory], check=True)
    cache = os.path.join(os.path.abspath(workdir), "vipkeeper-pycache")
    subprocess.run(["rm", "-rf", "--one-file-system", cache], check=True)
    for env, argv in postinst_commands(daemon_python(), directory, cache):
        subprocess.run(argv, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    _cache[:] = [cache]
    env_text = " ".join(f"{k}={v}" for k, v in unit_environment().items())
    return (f"vipkeeper started as debian/vipkeeper.service starts it ({env_text}), its bytecode written as "
            "debian/vipkeeper.postinst writes it")


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
    unicast_peers: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # further instance lines (track_script, notify, ...)


@dataclass
class Config:
    instances: list[Instance]
    tracked: dict[str, tuple[str, int]] = field(default_factory=dict)  # tracker -> (process, weight)
    notify_fifo: str | None = None
    router_id: str = "bench"
    globals_extra: list[str] = field(default_factory=list)  # further global_defs lines, both daemons
    witness_endpoints: tuple[str, ...] = ()  # vipkeeper's quorum witness on these etcd members
    witness_ttl: int = 2
    blocks: list[str] = field(default_factory=list)  # top-level lines after global_defs (vrrp_script, ...)

    def text(self, impl: str) -> str:
        witness = bool(self.witness_endpoints) and impl == "vipkeeper"
        out = []
        if witness:
            out += ["vipkeeper_witness etcd {", f"  endpoints {' '.join(self.witness_endpoints)}",
                    f"  lease_ttl {self.witness_ttl}", "  timeout 0.3", "}"]
        out += ["global_defs {", f"  router_id {self.router_id}", *(f"  {line}" for line in self.globals_extra)]
        if self.notify_fifo:
            out.append(f"  notify_fifo {self.notify_fifo}")
        out.append("}")
        out += self.blocks
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
            if witness:
                out.append("  witness etcd")
            if inst.unicast_src:
                out.append(f"  unicast_src_ip {inst.unicast_src}")
            if inst.unicast_peers:
                out += ["  unicast_peer {", *(f"    {peer}" for peer in inst.unicast_peers), "  }"]
            out += [f"  {line}" for line in inst.extra]
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


class Daemon(HostDaemon):
    """A daemon started by the bench with a configuration written from `Config`."""

    impl = ""

    def __init__(self, ns: str, config: Config, workdir: str, tag: str) -> None:
        conf_path = os.path.join(workdir, f"{tag}.conf")
        with open(conf_path, "w") as f:
            f.write(config.text(self.impl))
        super().__init__(self.impl, ns, conf_path, workdir, tag)
        self.config = config

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids())

    def rss(self) -> int:
        return sum(rss_kib(p) for p in self.pids())


class Vipkeeper(Daemon):
    impl = "vipkeeper"

    def __init__(self, ns: str, config: Config, workdir: str, tag: str) -> None:
        super().__init__(ns, config, workdir, tag)
        if not _cache:  # every figure, not only those that compile first for their note
            compile_as_installed(workdir)
        self.env = unit_environment()
        self.entry = os.path.join(workdir, "vipkeeper")  # /usr/sbin/vipkeeper's stand-in
        with open(self.entry, "w") as f:
            f.write(ENTRY_SCRIPT)

    def argv(self) -> list[str]:
        # `python3 /usr/sbin/vipkeeper run ...`, not `python3 -m vipkeeper run ...`: -m imports runpy
        # and importlib.util, which the installed command does not
        argv = super().argv()
        at = argv.index("-m")
        return [*argv[:at], self.entry, *argv[at + 2:]]

    def status(self) -> dict | None:
        try:
            done = subprocess.run([daemon_python(), "-m", "vipkeeper", "status", "--socket", self.control_socket,
                                   "--json"], capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            return None
        if done.returncode != 0:
            return None
        try:
            return json.loads(done.stdout)
        except ValueError:
            return None


class Keepalived(Daemon):
    impl = "keepalived"


IMPLS = {"vipkeeper": Vipkeeper, "keepalived": Keepalived}


def _python_version(python: str) -> str:
    if python == sys.executable:
        return f"{sys.version.split()[0]} ({python})"
    done = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True,
                          check=False)
    return f"{done.stdout.strip() or '?'} ({python})"


def versions() -> dict[str, str]:
    ka = subprocess.run(["keepalived", "--version"], capture_output=True, text=True, check=False)
    first = (ka.stderr or ka.stdout).splitlines()[:1]
    try:
        from vipkeeper import __version__ as vk
    except ImportError:
        vk = "?"
    return {"vipkeeper": vk, "keepalived": first[0] if first else "?", "python": _python_version(daemon_python()),
            "kernel": os.uname().release}
