"""notify_fifo against real fifos: line format, creation and removal, full fifo, fifo script."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import time

import pytest

from vipkeeper.config.model import Notifies, ScriptCommand
from vipkeeper.notify.fifo import NotifyFifo, fifo_line
from vipkeeper.notify.scripts import NotifyRunner


@pytest.fixture
def work():
    base = tempfile.mkdtemp(prefix="vkfifo", dir="/tmp")
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def reader(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def read_all(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def test_line_format_is_keepalived_s_format():
    assert fifo_line("INSTANCE", "VI_1", "MASTER", 150) == 'INSTANCE "VI_1" MASTER 150\n'
    assert fifo_line("GROUP", "G", "BACKUP", 0) == 'GROUP "G" BACKUP 0\n'


def test_lines_read_back_from_a_real_fifo_and_created_fifo_is_removed(work):
    path = os.path.join(work, "notify.fifo")
    old_umask = os.umask(0o077)
    try:
        fifo = NotifyFifo(path)
        assert fifo.open()
    finally:
        os.umask(old_umask)
    st = os.stat(path)
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    flags = fcntl.fcntl(fifo.fd, fcntl.F_GETFL)
    assert flags & os.O_ACCMODE == os.O_RDWR and flags & os.O_NONBLOCK
    rd = reader(path)
    try:
        fifo.write("INSTANCE", "VI_1", "MASTER", 150)
        fifo.write("GROUP", "G1", "BACKUP", 0)
        assert read_all(rd) == b'INSTANCE "VI_1" MASTER 150\nGROUP "G1" BACKUP 0\n'
    finally:
        os.close(rd)
    fifo.close()
    assert not os.path.exists(path), "we made it, so we remove it"
    assert fifo.fd is None


def test_existing_fifo_is_reused_and_left_in_place(work):
    path = os.path.join(work, "notify.fifo")
    os.mkfifo(path, 0o600)
    fifo = NotifyFifo(path)
    assert fifo.open() and not fifo.created
    fifo.close()
    assert stat.S_ISFIFO(os.stat(path).st_mode), "not ours: not unlinked"


def test_writes_without_any_reader_neither_block_nor_raise(work):
    path = os.path.join(work, "notify.fifo")
    fifo = NotifyFifo(path)
    assert fifo.open()
    fifo.write("INSTANCE", "VI_1", "MASTER", 150)  # no reader: O_RDWR means no EPIPE
    fifo.close()


def test_full_fifo_drops_lines_silently(work, caplog):
    path = os.path.join(work, "notify.fifo")
    fifo = NotifyFifo(path)
    assert fifo.open()
    line = fifo_line("INSTANCE", "VI_1", "MASTER", 150)
    with caplog.at_level(logging.DEBUG, logger="vipkeeper.notify"):
        t0 = time.monotonic()
        for _ in range(5000):  # 5000 * 27 bytes is more than the 64 KiB pipe buffer
            fifo.write("INSTANCE", "VI_1", "MASTER", 150)
        elapsed = time.monotonic() - t0
    with pytest.raises(BlockingIOError):
        os.write(fifo.fd, line.encode())  # it really is full
    assert elapsed < 2
    assert "write error" not in caplog.text
    rd = reader(path)
    try:
        data = read_all(rd).decode()
    finally:
        os.close(rd)
    lines = data.splitlines(keepends=True)
    assert 0 < len(lines) < 5000
    assert set(lines) == {line}, "only whole lines: each write is atomic or dropped"
    fifo.close()


def test_other_write_errors_are_logged_as_keepalived_does(work, caplog):
    path = os.path.join(work, "vrrp.fifo")
    fifo = NotifyFifo(path, label="vrrp notify fifo")
    assert fifo.open()
    os.close(fifo.fd)
    fifo.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # writing to it fails with EBADF
    with caplog.at_level(logging.ERROR, logger="vipkeeper.notify"):
        fifo.write("INSTANCE", "VI_1", "MASTER", 150)
    assert f"vrrp notify fifo write error: {os.strerror(errno.EBADF)}" in caplog.text
    fifo.close()


def test_symlink_and_regular_file_are_refused(work, caplog):
    real = os.path.join(work, "real.fifo")
    os.mkfifo(real)
    link = os.path.join(work, "link.fifo")
    os.symlink(real, link)
    regular = os.path.join(work, "regular")
    with open(regular, "w") as f:
        f.write("keep me\n")
    with caplog.at_level(logging.ERROR, logger="vipkeeper.notify"):
        assert NotifyFifo(link).open() is False
        assert NotifyFifo(regular).open() is False
    assert "is a symbolic link" in caplog.text
    assert "not a fifo" in caplog.text
    with open(regular) as f:
        assert f.read() == "keep me\n"


def test_created_fifo_is_chowned_to_the_configured_user(work):
    path = os.path.join(work, "notify.fifo")
    fifo = NotifyFifo.from_config(ScriptCommand(command=path, argv=(path,), user="nobody"), None,
                                  NotifyRunner(loop=None))
    assert fifo.open()
    st = os.stat(path)
    fifo.close()
    assert (st.st_uid, st.st_gid) == (65534, 65534)


def test_fifo_script_gets_the_name_reads_the_lines_and_exits_at_close(work):
    path = os.path.join(work, "notify.fifo")
    out = os.path.join(work, "out")
    script = os.path.join(work, "fifo.sh")
    with open(script, "w") as f:
        f.write(f'#!/bin/sh\necho "args: $*" > {out}\nwhile read -r line; do echo "$line" >> {out}; done < "$2"\n')
    os.chmod(script, 0o755)

    async def main():
        runner = NotifyRunner()
        fifo = NotifyFifo(path, script=ScriptCommand(command=f"{script} first", argv=(script, "first")),
                          runner=runner)
        assert fifo.open()
        # state script -> generic notify -> fifo, all from one call
        runner.notify("INSTANCE", "VI_1", "MASTER", 150, Notifies(), [fifo])
        runner.notify("GROUP", "G1", "FAULT", 99, Notifies(), [fifo])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if os.path.exists(out) and len(open(out).read().splitlines()) >= 3:
                break
            await asyncio.sleep(0.02)
        fifo.close()  # EOF for the reader: the script ends by itself
        await asyncio.wait_for(fifo.script_run.done, 5)
        return fifo.script_run

    run = asyncio.run(main())
    with open(out) as f:
        assert f.read().splitlines() == [
            f"args: first {path}",
            'INSTANCE "VI_1" MASTER 150',
            'GROUP "G1" FAULT 0',
        ]
    assert run.returncode == 0 and not run.timed_out
    assert not os.path.exists(path)


def test_fifo_line_follows_the_scripts(work):
    """keepalived's order inside one notification: state script, generic notify, fifo line."""
    path = os.path.join(work, "notify.fifo")
    calls = []

    class Spy(NotifyFifo):
        def write(self, *args):
            calls.append(("fifo", len(runner.running)))
            super().write(*args)

    async def main():
        nonlocal runner
        runner = NotifyRunner()
        fifo = Spy(path)
        assert fifo.open()
        sleeper = ScriptCommand(command="/bin/sleep 0.2", argv=("/bin/sleep", "0.2"))
        runs = runner.notify("INSTANCE", "VI_1", "MASTER", 150,
                             Notifies(master=sleeper, generic=sleeper), [fifo])
        await asyncio.gather(*(r.done for r in runs))
        fifo.close()

    runner = None
    asyncio.run(main())
    assert calls == [("fifo", 2)], "both scripts were started before the fifo line"
