"""Reading /proc without racing the processes it describes.

One scanner for the whole program: the process tracker, its fallback rescans and `vipkeeper
pidcheck` all read processes through this module, so there is one place that decides what "a
process is running" means.

Rules
- A process can exit between any two system calls. Every read here treats ENOENT, ESRCH, EACCES
  on a vanished entry, a short or empty read and an unparsable line as "absent" and returns None;
  nothing here logs or raises for a process that went away. That is the race `pidof` loses when it
  prints `can't read from /proc/NNN/stat`.
- A shortage is not an absence. When the read fails because this process (or the system) is out
  of file descriptors or memory (EMFILE, ENFILE, ENOMEM, ENOBUFS, EAGAIN), nothing is known
  about the process: `Shortage` is raised and the caller must try again later. Reading it as
  "absent" once kept a restarted service "down" for as long as the daemon ran.
- /proc itself missing or unreadable is `ProcUnavailable`, one line for the admin.
- Zombies (state Z or X) are not running: their name is still in /proc but the program is gone.
- Threads are not processes: only the numeric entries of /proc itself (thread-group leaders) are
  listed, never /proc/PID/task.
- comm comes from /proc/PID/stat (one read gives name, state and start time; the name is the text
  between the first '(' and the *last* ')', since a name may itself contain ')').
  cmdline is read only when asked: it reads the target's memory and may page it in.
- The process tracker reads the name of every process that execs while it runs, most of them of
  no interest: `read_if_named` reads /proc/PID/comm (the cheapest file: the kernel formats
  nothing else) and compares it as bytes; only a wanted name costs the read of stat that gives
  the start time.
"""

from __future__ import annotations

import errno
import os
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Iterator

from vipkeeper.records import record

PROC = "/proc"

# errno values that mean "short of descriptors or memory", not "the process is gone"
SHORTAGE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS, errno.EAGAIN})


class Shortage(OSError):
    """A read failed for want of descriptors or memory: nothing is known, try again later."""


class ProcUnavailable(OSError):
    """/proc is not mounted (or not readable): process tracking cannot work."""


def check_shortage(exc: OSError) -> None:
    """Raise `Shortage` if `exc` is one; return (the caller reads it as absence) otherwise."""
    if exc.errno in SHORTAGE_ERRNOS:
        raise Shortage(exc.errno, exc.strerror) from None


@record(frozen=True)
class ProcessInfo:
    """What the tracker knows about one process.

    `start` is the process's start time in clock ticks after boot (field 22 of /proc/PID/stat):
    with the PID it names one process for good, so a reused PID is never mistaken for the old
    process. `argv` is None when it was not read (no tracker needed it), () for a process without
    a command line (kernel threads, exiting processes).
    """

    comm: str
    argv: tuple[str, ...] | None = None
    start: int = 0


@record(frozen=True)
class StatLine:
    comm: str
    state: str
    start: int


def _read_small(path: str, size: int = 4096) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        check_shortage(exc)
        return None
    try:
        return os.read(fd, size)
    except OSError as exc:
        check_shortage(exc)
        return None
    finally:
        os.close(fd)


def parse_stat(data: bytes) -> StatLine | None:
    """Parse a /proc/PID/stat line; None for anything that is not a whole, sane line."""
    open_ = data.find(b"(")
    close = data.rfind(b")")
    if open_ < 0 or close < open_:
        return None
    comm = data[open_ + 1 : close].decode("utf-8", "surrogateescape")
    rest = data[close + 2 :].split(None, 20)
    # rest[0] is field 3 (state); field 22 (starttime) is rest[19]; the fields after it stay unsplit
    if len(rest) < 20:
        return None
    try:
        start = int(rest[19])
    except ValueError:
        return None
    return StatLine(comm=comm, state=rest[0].decode("ascii", "replace"), start=start)


def read_stat(pid: int, proc: str = PROC) -> StatLine | None:
    data = _read_small(f"{proc}/{pid}/stat", 1024)
    if not data:
        return None
    return parse_stat(data)


def read_comm(pid: int, proc: str = PROC) -> str | None:
    """The name alone, from /proc/PID/comm: the cheapest read, used to decide if a process matters."""
    data = _read_small(f"{proc}/{pid}/comm", 64)
    if not data:
        return None
    return data.rstrip(b"\n").decode("utf-8", "surrogateescape")


def read_if_named(pid: int, names: frozenset[bytes] | None, proc: str = PROC) -> ProcessInfo | None:
    """A running process's name and start time if its name is in `names` (None: any name).

    None when the name is another, the process is gone or a zombie: the cheap pre-filter for
    processes that just exec'd (see the module docstring).
    """
    if names is not None:
        try:
            fd = os.open(f"{proc}/{pid}/comm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            check_shortage(exc)
            return None
        try:
            comm = os.read(fd, 64)
        except OSError as exc:
            check_shortage(exc)
            return None
        finally:
            os.close(fd)
        if comm[:-1] not in names:
            return None
    data = _read_small(f"{proc}/{pid}/stat", 1024)
    if not data:
        return None
    close = data.rfind(b")")
    rest = data[close + 2 :].split(None, 20)
    if len(rest) < 20 or rest[0] in (b"Z", b"X", b"x") or not rest[19].isdigit():
        return None
    return ProcessInfo(comm=data[data.find(b"(") + 1 : close].decode("utf-8", "surrogateescape"),
                      start=int(rest[19]))


def read_cmdline(pid: int, proc: str = PROC, limit: int = 65536) -> tuple[str, ...] | None:
    data = _read_small(f"{proc}/{pid}/cmdline", limit)
    if data is None:
        return None
    if not data:
        return ()
    if data.endswith(b"\0"):
        data = data[:-1]
    return tuple(p.decode("utf-8", "surrogateescape") for p in data.split(b"\0"))


def read_process(pid: int, need_argv: bool, proc: str = PROC) -> ProcessInfo | None:
    """One running process's info, or None if it is gone, a zombie, or unreadable."""
    st = read_stat(pid, proc)
    if st is None or st.state in ("Z", "X", "x"):
        return None
    argv = None
    if need_argv:
        argv = read_cmdline(pid, proc)
        if argv is None:
            return None
    return ProcessInfo(comm=st.comm, argv=argv, start=st.start)


def check_mounted(proc: str = PROC) -> None:
    """ProcUnavailable (one line for the admin) unless `proc` is a mounted proc filesystem."""
    if not os.path.exists(f"{proc}/self/stat"):
        raise ProcUnavailable(errno.ENOENT, f"{proc} is not mounted (no {proc}/self): process tracking "
                                            "needs it; mount proc there")


def list_pids(proc: str = PROC) -> list[int]:
    """The PIDs of /proc at this instant (thread-group leaders only).

    Raises Shortage (try again later) or ProcUnavailable (no /proc): an empty list would read
    as "every process exited"."""
    try:
        names = os.listdir(proc)
    except OSError as exc:
        check_shortage(exc)
        raise ProcUnavailable(exc.errno, f"cannot list {proc}: {exc.strerror}") from None
    pids = [int(n) for n in names if n.isdigit()]
    if not pids:
        raise ProcUnavailable(errno.ENOENT, f"{proc} lists no process: is proc mounted there?")
    return pids


def scan(need_argv: bool = False, proc: str = PROC) -> Iterator[tuple[int, ProcessInfo]]:
    """Every running process, each read once; those that vanish mid-scan are simply not listed."""
    for pid in list_pids(proc):
        info = read_process(pid, need_argv, proc)
        if info is not None:
            yield pid, info
