"""`vipkeeper pidcheck NAME...`: a `pidof -q` that cannot race.

Exit status 0 when every NAME has at least one running process, 1 otherwise. Silent: nothing on
stdout or stderr, ever, so it can be a vrrp_script body. Processes that exit while /proc is being
read are simply not counted (procfs.py), never an error.

Matching: by default NAME equals the process name (comm), as pidof's default; a NAME longer than
15 characters is compared with its first 15 (the kernel truncates comm). `--full`: NAME equals
argv[0] or its basename (so `/usr/sbin/haproxy` and `haproxy` both work). Zombies do not count.
"""

from __future__ import annotations

import os
import sys

import click

from vipkeeper.track import procfs

COMM_LEN = 15


def running(names: tuple[str, ...], full: bool = False) -> set[str]:
    """Which of `names` have a running process (one pass over /proc)."""
    wanted = set(names)
    found: set[str] = set()
    keys = {n: (n[:COMM_LEN] if not full else n) for n in wanted}
    for _, info in procfs.scan(need_argv=full):
        if full:
            if not info.argv:
                continue
            a0 = info.argv[0]
            cands = {a0, os.path.basename(a0)}
        else:
            cands = {info.comm}
        for n, k in keys.items():
            if k in cands:
                found.add(n)
        if found == wanted:
            break
    return found


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--full", is_flag=True, help="Match argv[0] (path or basename) instead of the process name.")
@click.argument("names", nargs=-1, required=True)
def pidcheck(names: tuple[str, ...], full: bool) -> None:
    """Exit 0 if every NAME has a running process, 1 otherwise. Prints nothing."""
    try:
        ok = running(names, full) == set(names)
    except Exception:  # never a traceback from a health check
        ok = False
    sys.exit(0 if ok else 1)
