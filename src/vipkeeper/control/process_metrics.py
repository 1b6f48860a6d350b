"""The standard `process_*` metrics of the daemon's own process, read from /proc (Linux).

Rules
- The same six families, names, help texts and values as prometheus_client's ProcessCollector
  (which the daemon used before issue 18): virtual and resident memory, start time (boot time from
  /proc/stat plus the start tick from /proc/self/stat), user+system CPU seconds, open descriptors
  (entries of /proc/self/fd) and the soft limit on them (/proc/self/limits).
- A part that cannot be read is left out, the rest still served (no /proc: none at all).

Theory of operation
`ProcessCollector()` reads the boot time and the page size and clock tick once; `collect()`
reads the three /proc files per scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from .exposition import Family, counter, gauge


class ProcessCollector:
    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self.ticks = float(os.sysconf("SC_CLK_TCK"))
        self.pagesize = os.sysconf("SC_PAGE_SIZE")
        self.boot_time = 0.0
        try:
            with open(os.path.join(proc, "stat"), "rb") as f:
                for line in f:
                    if line.startswith(b"btime "):
                        self.boot_time = float(line.split()[1])
                        break
        except OSError:
            pass

    def collect(self) -> Iterator[Family]:
        if not self.boot_time:
            return
        me = os.path.join(self.proc, "self")
        try:
            with open(os.path.join(me, "stat"), "rb") as f:
                # after the command name in parentheses: field 3 (state) is fields[0]
                fields = f.read().rsplit(b")", 1)[-1].split()
        except OSError:
            fields = []
        if len(fields) > 21:
            yield gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float(fields[20]))
            yield gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                        float(fields[21]) * self.pagesize)
            yield gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                        float(fields[19]) / self.ticks + self.boot_time)
            yield counter("process_cpu_seconds", "Total user and system CPU time spent in seconds.",
                          float(fields[11]) / self.ticks + float(fields[12]) / self.ticks)
        max_fds = None
        try:
            with open(os.path.join(me, "limits"), "rb") as f:
                for line in f:
                    if line.startswith(b"Max open file"):
                        try:
                            max_fds = float(line.split()[3])
                        except (ValueError, IndexError):  # "unlimited"
                            pass
                        break
            open_fds = len(os.listdir(os.path.join(me, "fd")))
        except OSError:
            return
        yield gauge("process_open_fds", "Number of open file descriptors.", open_fds)
        if max_fds is not None:
            yield gauge("process_max_fds", "Maximum number of open file descriptors.", max_fds)
