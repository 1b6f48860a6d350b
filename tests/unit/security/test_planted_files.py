"""Finding 7 of issue 20: files root writes or trusts, planted by someone else.

- track_file `init_file`: a symlink planted at the path made root write through it.
- the pid file: O_EXCL|O_NOFOLLOW, a lock, umask 022; a planted file or link is refused.
- the control socket: its directory must be root's and not writable by others; the client
  refuses a server that is not root (SO_PEERCRED).
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

from vipkeeper.config.model import TrackFile
from vipkeeper.control.client import ControlError, request
from vipkeeper.control.server import ControlServer, ControlSocketError, unsafe_directory
from vipkeeper.daemon.process import PidFile, PidFileError, set_umask
from vipkeeper.track.file import init_file

NOBODY = pwd.getpwnam("nobody")
# The fake server runs as nobody, who cannot read root's own interpreter under /root.
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


@pytest.fixture
def victim(tmp_path):
    v = tmp_path / "victim"
    v.write_text("root's precious data\n")
    return v


def spec(path, overwrite=False) -> TrackFile:
    return TrackFile(name="tf", file=str(path), init_file=7, init_file_overwrite=overwrite)


# -- init_file ------------------------------------------------------------------------------

def test_init_file_overwrite_does_not_follow_a_planted_symlink(tmp_path, victim, caplog):
    link = tmp_path / "track"
    os.symlink(victim, link)
    os.lchown(link, NOBODY.pw_uid, NOBODY.pw_gid)
    with caplog.at_level(logging.WARNING):
        init_file(spec(link, overwrite=True))
    assert victim.read_text() == "root's precious data\n"
    assert "Cannot initialise track file tf - it is a symbolic link" in caplog.text


def test_init_file_does_not_create_through_a_dangling_symlink(tmp_path):
    target = tmp_path / "etc-cron.d-evil"
    link = tmp_path / "track"
    os.symlink(target, link)
    init_file(spec(link))
    assert not target.exists()


def test_init_file_refuses_fifo_and_hard_link_without_hanging(tmp_path, victim, caplog):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    hard = tmp_path / "hard"
    os.link(victim, hard)
    with caplog.at_level(logging.WARNING):
        init_file(spec(fifo, overwrite=True))
        init_file(spec(hard, overwrite=True))
    assert victim.read_text() == "root's precious data\n"
    assert "tf - it is not a regular file" in caplog.text and "tf - it has 2 links" in caplog.text


def test_init_file_creates_and_overwrites_a_plain_file(tmp_path):
    path = tmp_path / "track"
    old = os.umask(0o022)
    try:
        init_file(spec(path))
    finally:
        os.umask(old)
    assert path.read_text() == "7\n" and (path.stat().st_mode & 0o777) == 0o644
    path.write_text("123456789\n")
    init_file(spec(path))
    assert path.read_text() == "123456789\n"  # exists, no overwrite: kept
    init_file(spec(path, overwrite=True))
    assert path.read_text() == "7\n"


# -- pid file -------------------------------------------------------------------------------

def test_pid_file_refuses_a_planted_symlink(tmp_path, victim):
    pid = tmp_path / "vk.pid"
    os.symlink(victim, pid)
    with pytest.raises(PidFileError, match="symbolic link"):
        PidFile(str(pid)).acquire()
    assert victim.read_text() == "root's precious data\n"


def test_pid_file_refuses_a_file_someone_else_owns(tmp_path):
    pid = tmp_path / "vk.pid"
    pid.write_text("1\n")
    os.chown(pid, NOBODY.pw_uid, NOBODY.pw_gid)
    with pytest.raises(PidFileError, match=f"owned by uid {NOBODY.pw_uid}"):
        PidFile(str(pid)).acquire()
    assert pid.read_text() == "1\n"


def test_pid_file_lock_excludes_a_second_daemon_and_a_stale_file_is_reused(tmp_path):
    pid = tmp_path / "run" / "vk.pid"
    old = os.umask(0o077)
    try:
        set_umask()
        first = PidFile(str(pid))
        first.acquire()
    finally:
        os.umask(old)
    assert pid.read_text() == f"{os.getpid()}\n" and (pid.stat().st_mode & 0o777) == 0o644
    with pytest.raises(PidFileError, match="another vipkeeper runs"):
        PidFile(str(pid)).acquire()  # same PID written, but the lock is held
    first.release()
    assert not pid.exists()
    # a stale file left by a crashed daemon (dead PID, no lock) is taken over
    dead = subprocess.Popen(["true"])
    dead.wait()
    pid.write_text(f"{dead.pid}\n")
    os.chmod(pid, 0o644)
    second = PidFile(str(pid))
    second.acquire()
    assert pid.read_text() == f"{os.getpid()}\n"
    second.release()


def test_pid_file_in_a_world_writable_directory_is_refused(tmp_path):
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, 0o777)
    with pytest.raises(PidFileError, match="writable by anyone"):
        PidFile(str(d / "vk.pid")).acquire()


# -- control socket -------------------------------------------------------------------------

@pytest.mark.parametrize("mode,owner,expect", [
    (0o777, 0, "writable by others"),
    (0o775, 0, "writable by its group"),
    (0o700, NOBODY.pw_uid, f"owned by uid {NOBODY.pw_uid}"),
])
def test_control_directory_others_can_write_is_refused(tmp_path, mode, owner, expect):
    d = tmp_path / "ctl"
    d.mkdir()
    os.chmod(d, mode)
    os.chown(d, owner, owner)
    server = ControlServer(str(d / "vk.ctl"))

    async def main():
        await server.start()

    import asyncio
    with pytest.raises(ControlSocketError, match=expect):
        asyncio.run(main())
    assert not (d / "vk.ctl").exists()


def test_control_directory_symlink_refused_safe_ones_accepted(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    os.symlink(real, link)
    assert "symbolic link" in unsafe_directory(str(link))
    assert unsafe_directory(str(real)) is None
    os.chmod(real, 0o755)
    assert unsafe_directory(str(real)) is None


FAKE_SERVER = r"""
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
c.settimeout(2)
try:
    got = c.recv(4096)
except OSError:
    got = b""
open(path + ".got", "wb").write(got)
c.sendall(b'{"ok": true, "data": {"instances": [{"name": "VI_1", "state": "FORGED"}]}}\n')
c.close()
"""


def test_client_refuses_a_server_that_is_not_root():
    base = tempfile.mkdtemp(prefix="vkctl")
    try:
        os.chmod(base, 0o755)
        d = os.path.join(base, "d")
        os.mkdir(d)
        os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)
        path = os.path.join(d, "vk.ctl")
        fake = subprocess.Popen([SYSTEM_PYTHON, "-c", FAKE_SERVER, path], user=NOBODY.pw_uid,
                                group=NOBODY.pw_gid, extra_groups=[], stdout=subprocess.PIPE, text=True)
        try:
            assert fake.stdout.readline().strip() == "ready"
            with pytest.raises(ControlError, match=f"served by uid {NOBODY.pw_uid}, not root"):
                request("status", path=path, timeout=3)
            fake.wait(timeout=5)
            got = open(path + ".got", "rb").read()
            assert got == b"", "the request was sent to a foreign server"
        finally:
            if fake.poll() is None:
                fake.kill()
            fake.wait()
    finally:
        shutil.rmtree(base, ignore_errors=True)
