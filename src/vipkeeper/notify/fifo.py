"""notify_fifo and vrrp_notify_fifo, byte for byte as keepalived writes them.

Rules (keepalived 2.2.7, core/notify.c fifo_open/fifo_close, vrrp/vrrp_notify.c notify_fifo)
- One line per event: `INSTANCE "VI_1" MASTER 150\\n`, `GROUP "G1" BACKUP 0\\n`.
- The fifo is made with mode 0644; an existing one is reused (EEXIST is fine). If we made it and
  a user/group was configured for it, it is chowned to them. Any other failure to create is logged
  `Unable to create notify fifo NAME`.
- A `*_fifo_script` is started before the fifo is opened, with the fifo's name appended to its
  arguments; it runs for as long as the fifo is open (no timeout).
- The fifo is opened O_RDWR|O_NONBLOCK|O_CLOEXEC|O_NOFOLLOW: opening never waits for a reader, a
  write never raises EPIPE when there is none, and a symlink planted at the path is refused.
- A fifo that was already there must be one we own: a fifo, owned by us (root) or by the
  configured user, as keepalived 2.4 requires (`notify fifo X is not a fifo we own - not
  using`), and - beyond keepalived - not writable by group or others, since whoever can write
  it can put forged state lines ahead of ours. It is checked before the fifo script is started
  (a refused fifo starts no script) and again on the open descriptor.
- Writing never blocks: a full fifo (EAGAIN) drops the line silently; any other error is logged
  `notify fifo write error: ...` (`vrrp notify fifo write error: ...` for vrrp_notify_fifo).
- On close the path is unlinked first, only if we created it, then the descriptor is closed; the
  reader sees end-of-file (we were the only writer) and a well-behaved fifo script exits.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import pwd
import stat

from vipkeeper.config.model import ScriptCommand
from vipkeeper.notify.scripts import NotifyRunner, RunningScript

log = logging.getLogger("vipkeeper.notify")


def fifo_line(kind: str, name: str, state: str, priority: int) -> str:
    """keepalived's `%s "%s" %s %d\\n`."""
    return f'{kind} "{name}" {state} {int(priority)}\n'


class NotifyFifo:
    """One notify fifo. `label` is how log lines name it: "notify fifo" or "vrrp notify fifo"."""

    def __init__(
        self,
        path: str,
        *,
        script: ScriptCommand | None = None,
        runner: NotifyRunner | None = None,
        user: str | None = None,
        group: str | None = None,
        label: str = "notify fifo",
    ) -> None:
        if script is not None and runner is None:
            raise ValueError("a fifo script needs a NotifyRunner to run it")
        self.path = path
        self.script = script
        self.runner = runner
        self.user = user
        self.group = group
        self.label = label
        self.fd: int | None = None
        self.created = False
        self.script_run: RunningScript | None = None

    @classmethod
    def from_config(cls, fifo: ScriptCommand, script: ScriptCommand | None, runner: NotifyRunner,
                    label: str = "notify fifo") -> NotifyFifo:
        """From global_defs' `notify_fifo` (path in `command`) and `notify_fifo_script`."""
        return cls(fifo.command, script=script, runner=runner, user=fifo.user, group=fifo.group,
                   label=label)

    def open(self) -> bool:
        """Create, start the reader script, open. False (after logging why) if unusable."""
        try:
            os.mkfifo(self.path, 0o644)
        except FileExistsError:
            self.created = False
            try:
                problem = self._foreign(os.lstat(self.path))
            except OSError as exc:
                problem = exc.strerror
            if problem:
                log.error("%s %s is not a fifo we own - not using (%s)", self.label, self.path, problem)
                return False
        except OSError as exc:
            log.error("Unable to create %s %s: %s", self.label, self.path, exc.strerror)
        else:
            self.created = True
            # mkfifo applies the umask; keepalived's file is 0644 whatever the daemon's umask.
            os.chmod(self.path, 0o644, follow_symlinks=False)
            self._chown()
        if self.script is not None and self.runner is not None:
            self.script_run = self.runner.run(self.script, (self.path,), timeout=None,
                                              what=f"{self.label} script")
        flags = os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            why = "is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
            log.error("Unable to open %s %s: %s", self.label, self.path, why)
            return False
        problem = self._foreign(os.fstat(fd))
        if problem:
            os.close(fd)
            log.error("%s %s is not a fifo we own - not using (%s)", self.label, self.path, problem)
            return False
        self.fd = fd
        return True

    def _allowed_uids(self) -> set[int]:
        uids = {os.geteuid()}
        if self.user is not None:
            try:
                uids.add(int(self.user) if self.user.isdigit() else pwd.getpwnam(self.user).pw_uid)
            except KeyError:
                pass
        return uids

    def _foreign(self, st: os.stat_result) -> str | None:
        """Why a fifo found at the path is not ours to write to, or None."""
        if stat.S_ISLNK(st.st_mode):
            return "it is a symbolic link"
        if not stat.S_ISFIFO(st.st_mode):
            return "not a fifo"
        if st.st_uid not in self._allowed_uids():
            return f"owned by uid {st.st_uid}"
        if st.st_mode & 0o022:
            return f"writable by group or others (mode {st.st_mode & 0o7777:04o})"
        return None

    def write(self, kind: str, name: str, state: str, priority: int) -> None:
        self.write_line(fifo_line(kind, name, state, priority))

    def write_line(self, line: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, line.encode())
        except BlockingIOError:
            pass  # full: keepalived drops the line rather than stall the daemon
        except OSError as exc:
            log.error("%s write error: %s", self.label, exc.strerror or exc)

    def close(self) -> None:
        if self.created:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.created = False
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _chown(self) -> None:
        if self.user is None and self.group is None:
            return
        try:
            uid = -1 if self.user is None else (
                int(self.user) if self.user.isdigit() else pwd.getpwnam(self.user).pw_uid)
            gid = -1
            if self.group is not None:
                gid = int(self.group) if self.group.isdigit() else grp.getgrnam(self.group).gr_gid
            elif self.user is not None and not self.user.isdigit():
                gid = pwd.getpwnam(self.user).pw_gid
            os.chown(self.path, uid, gid, follow_symlinks=False)
        except (KeyError, OSError) as exc:
            log.error("Unable to set the owner of %s %s: %s", self.label, self.path, exc)
