"""The daemon process's scheduling and memory: keepalived's vrrp_* process keywords.

Rules (keepalived 2.2.7 lib/process.c set_process_priorities, read for the facts)
- `vrrp_rt_priority N`: SCHED_RR at priority N with SCHED_RESET_ON_FORK, so scripts the daemon
  starts run as ordinary processes. With it, RLIMIT_RTTIME is set to soft `vrrp_rlimit_rttime / 2`,
  hard `vrrp_rlimit_rttime` µs (default 10000) and SIGXCPU (sent at the soft limit) is logged,
  not fatal: a daemon spinning on the CPU for the hard limit without sleeping is killed by the
  kernel, which is the point (a stuck real-time process must not freeze the host).
- `vrrp_priority N` (nice): applied only *without* vrrp_rt_priority - keepalived's else branch,
  kept. SCHED_RESET_ON_FORK is set with it too, so a negative nice is not inherited by scripts
  (keepalived resets it in each script child; the kernel's flag has the same effect).
- `vrrp_no_swap`: mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT).
- `vrrp_cpu_affinity CPU...`: sched_setaffinity.
- Each step that fails is one log line and the daemon goes on, as keepalived does.
- Linux applies scheduling and nice per thread: `apply` runs on the event loop's thread, before
  any other thread exists.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal

from vipkeeper.config.model import GlobalDefs
from vipkeeper.records import record

log = logging.getLogger("vipkeeper.daemon")

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
SCHED_RESET_ON_FORK = getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)


@record(frozen=True)
class Tuning:
    """What to apply, from global_defs."""

    rt_priority: int | None = None
    nice: int | None = None
    no_swap: bool = False
    cpus: tuple[int, ...] = ()
    rlimit_rttime: int = 10000

    @classmethod
    def of(cls, g: GlobalDefs) -> Tuning:
        return cls(g.vrrp_rt_priority, g.vrrp_priority, g.vrrp_no_swap, g.vrrp_cpu_affinity, g.vrrp_rlimit_rttime)

    @property
    def wanted(self) -> bool:
        return self != Tuning(rlimit_rttime=self.rlimit_rttime)


class ProcessTuner:
    """Applies a Tuning to this process and can undo it (a reload that drops the keywords)."""

    def __init__(self) -> None:
        self.applied = Tuning()
        self._orig_nice = os.getpriority(os.PRIO_PROCESS, 0)
        self._orig_rttime = resource.getrlimit(resource.RLIMIT_RTTIME)
        self._orig_cpus = os.sched_getaffinity(0)
        self._locked = False
        self._sigxcpu = False

    def apply(self, tuning: Tuning) -> None:
        if tuning == self.applied:
            return
        self.reset()
        if tuning.rt_priority is not None:
            self._realtime(tuning.rt_priority, tuning.rlimit_rttime)
        elif tuning.nice is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, tuning.nice)
                os.sched_setscheduler(0, os.SCHED_OTHER | SCHED_RESET_ON_FORK, os.sched_param(0))
            except OSError as exc:
                log.info("Unable to set process priority to %d - %s", tuning.nice, exc.strerror)
        if tuning.no_swap:
            self._lock_memory()
        if tuning.cpus:
            try:
                os.sched_setaffinity(0, tuning.cpus)
                log.info("vrrp process CPU affinity set to %s", " ".join(map(str, tuning.cpus)))
            except OSError as exc:
                log.warning("Unable to set vrrp process CPU affinity to %s - %s",
                            " ".join(map(str, tuning.cpus)), exc.strerror)
        self.applied = tuning

    def reset(self) -> None:
        """Back to an ordinary process (keepalived does this at every reload, then re-applies)."""
        if self.applied == Tuning():
            return
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            resource.setrlimit(resource.RLIMIT_RTTIME, self._orig_rttime)
            os.setpriority(os.PRIO_PROCESS, 0, self._orig_nice)
            os.sched_setaffinity(0, self._orig_cpus)
        except OSError as exc:
            log.warning("cannot reset process scheduling: %s", exc.strerror)
        if self._locked:
            _libc().munlockall()
            self._locked = False
        self.applied = Tuning()

    def _realtime(self, priority: int, rttime: int) -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_RR | SCHED_RESET_ON_FORK, os.sched_param(priority))
        except OSError as exc:
            log.warning("child process: cannot raise priority (%s)", exc.strerror)
            return
        log.info("vrrp process set to real-time scheduling SCHED_RR priority %d", priority)
        if not self._sigxcpu:
            # the soft limit's SIGXCPU would end the process by default; keepalived logs it
            signal.signal(signal.SIGXCPU, _on_sigxcpu)
            self._sigxcpu = True
        try:
            resource.setrlimit(resource.RLIMIT_RTTIME, (rttime // 2, rttime))
        except (OSError, ValueError) as exc:
            log.warning("child process cannot set realtime rlimit (%s)", exc)

    def _lock_memory(self) -> None:
        if _libc().mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0:
            log.info("Unable to lock process in memory - %s", os.strerror(ctypes.get_errno()))
        else:
            self._locked = True


def _on_sigxcpu(signum: int, frame: object) -> None:
    log.warning("vrrp process exceeded its soft real-time CPU limit (vrrp_rlimit_rttime / 2)")


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)  # libc among the interpreter's symbols: no ldconfig run
    return _LIBC
