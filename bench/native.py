"""Two tiny C programs compiled with gcc at bench time, and renamed copies of them.

Why C: the tracked process's exit time must be taken by the process itself right before
_exit (a Python parent would add its own wake-up latency), and the churn figure needs
thousands of fork+exec per second, which a Python spawner cannot reach on two cores.

- stamper: blocks reading one byte from stdin, then prints CLOCK_REALTIME (s.ns) and _exits.
- spawner N A B: N times fork+execv(A) and N times B, interleaved, each reaped before the next.
  Prints the wall time it took.

A process's comm is its executable's basename (15 bytes max), so copies named after the tracked
process make "a process of the tracked name" without prctl tricks.
"""

from __future__ import annotations

import os
import shutil
import subprocess

STAMPER_C = r"""
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    char c;
    struct timespec ts;
    if (read(0, &c, 1) < 0) return 1;
    clock_gettime(CLOCK_REALTIME, &ts);
    printf("%ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    fflush(stdout);
    _exit(0);
}
"""

SPAWNER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static void run(const char *path) {
    pid_t pid = fork();
    if (pid == 0) { char *argv[] = {(char *)path, NULL}; execv(path, argv); _exit(127); }
    if (pid > 0) waitpid(pid, NULL, 0);
}
int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: spawner N TRACKED OTHER\n"); return 2; }
    long n = atol(argv[1]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) { run(argv[2]); run(argv[3]); }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
"""

TRUE_C = r"""
int main(void) { return 0; }
"""


def compile_c(workdir: str, name: str, source: str, static: bool = False) -> str:
    src = os.path.join(workdir, name + ".c")
    out = os.path.join(workdir, name)
    with open(src, "w") as f:
        f.write(source)
    argv = ["gcc", "-O2", "-o", out, src] + (["-static"] if static else [])
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0 and static:  # no static libc installed: a dynamic binary will do
        done = subprocess.run(argv[:-1], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"gcc {name}: {done.stderr.strip()}")
    return out


def named_copy(binary: str, workdir: str, name: str) -> str:
    """A copy of `binary` whose comm will be `name` (at most 15 bytes)."""
    if len(name) > 15:
        raise ValueError(f"process name {name!r} is longer than 15 bytes")
    path = os.path.join(workdir, name)
    shutil.copy2(binary, path)
    return path


class Programs:
    """The compiled helpers of one bench run, in `workdir`."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.stamper = compile_c(workdir, "stamper", STAMPER_C)
        self.spawner = compile_c(workdir, "spawner", SPAWNER_C)
        # /bin/true is dynamically linked; a static no-op keeps the churn about process events,
        # not the dynamic loader (keepalived and vipkeeper see the same events either way).
        self.true = compile_c(workdir, "true_", TRUE_C, static=True)
