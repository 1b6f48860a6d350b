"""A crowd of idle processes: a bigger /proc for every `pidof` to walk.

`Crowd(n, workdir)` starts a small C program as PID 1 of its own PID namespace (`unshare --pid
--fork --kill-child`), which forks n children that only pause(). They use no CPU and emit no
process events after they start; all they do is make each /proc walk longer (sysvinit's pidof
opens stat and cmdline and reads the exe link of every process). They stay visible in the initial
namespace's /proc, where the daemons' scripts run. close() SIGKILLs the `unshare` we started
(by PID); --kill-child then kills its namespace's init, and the kernel the rest of the namespace.
"""

from __future__ import annotations

import os
import subprocess
import time

from bench.native import compile_c

CROWD_C = r"""
#include <stdlib.h>
#include <unistd.h>
/* crowd N: N idle children (and us), until killed. */
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0;
    for (long i = 0; i < n; i++) if (fork() == 0) { for (;;) pause(); }
    for (;;) pause();
}
"""


def count_processes() -> int:
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


class Crowd:
    def __init__(self, n: int, workdir: str, timeout: float = 30.0) -> None:
        self.n = n
        self.proc: subprocess.Popen | None = None
        if n <= 0:
            return
        binary = compile_c(workdir, "crowd", CROWD_C)
        before = count_processes()
        self.proc = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", binary, str(n)])
        deadline = time.monotonic() + timeout
        while count_processes() < before + n and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
