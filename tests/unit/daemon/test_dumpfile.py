"""daemon/dumpfile.py: the dump is never written through a planted file or link (issue 20 #7).

Each case builds the directory as /tmp is (root-owned, 1777) or as a private one, in tmp_path."""

from __future__ import annotations

import os
import stat

import pytest

from vipkeeper.daemon.dumpfile import ensure_private_dir, refusal, write_dump

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files owned by another user")


@pytest.fixture
def sticky(tmp_path):
    d = tmp_path / "tmp"
    d.mkdir()
    d.chmod(0o1777)
    return d


def test_fresh_file_in_sticky_dir_is_written_root_only_with_no_leftovers(sticky) -> None:
    target = sticky / "keepalived.data"
    assert write_dump(str(target), "hello\n") is None
    st = target.lstat()
    assert target.read_text() == "hello\n" and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600
    assert sorted(os.listdir(sticky)) == ["keepalived.data"]


def test_file_precreated_by_another_user_is_not_written(sticky) -> None:
    target = sticky / "keepalived.data"
    target.write_text("theirs\n")
    os.chown(target, NOBODY, NOBODY)
    reason = write_dump(str(target), "root's secrets\n")
    assert reason is not None and "belongs to uid 65534" in reason
    assert target.read_text() == "theirs\n" and target.stat().st_uid == NOBODY
    assert sorted(os.listdir(sticky)) == ["keepalived.data"]


@pytest.mark.parametrize("link_owner", [0, NOBODY])
def test_symlink_in_sticky_dir_is_not_followed(sticky, tmp_path, link_owner: int) -> None:
    victim = tmp_path / "victim"
    victim.write_text("original\n")
    target = sticky / "keepalived.data"
    target.symlink_to(victim)
    os.lchown(target, link_owner, link_owner)
    assert write_dump(str(target), "dump\n") is not None
    assert victim.read_text() == "original\n" and target.is_symlink()


def test_world_writable_dir_without_sticky_bit_is_refused(tmp_path) -> None:
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(0o777)
    reason = write_dump(str(d / "keepalived.stats"), "x")
    assert reason is not None and "not sticky" in reason
    assert os.listdir(d) == []


def test_dir_owned_by_another_user_counts_as_shared(tmp_path) -> None:
    d = tmp_path / "theirs"
    d.mkdir(mode=0o755)
    os.chown(d, NOBODY, NOBODY)
    assert refusal(str(d / "keepalived.json")) is not None


def test_root_owned_file_in_sticky_dir_is_replaced_not_rewritten(sticky) -> None:
    target = sticky / "keepalived.stats"
    target.write_text("old\n")
    before = target.stat().st_ino
    os.link(target, sticky / "hardlink")  # a second name of the old inode
    assert write_dump(str(target), "new\n") is None
    assert target.read_text() == "new\n" and target.stat().st_ino != before
    assert (sticky / "hardlink").read_text() == "old\n"  # the old inode was never opened for writing


def test_symlink_in_private_dir_is_replaced_not_followed(tmp_path) -> None:
    d = tmp_path / "private"
    d.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("original\n")
    (d / "vipkeeper.json").symlink_to(victim)
    assert write_dump(str(d / "vipkeeper.json"), "{}\n") is None
    assert victim.read_text() == "original\n"
    assert not (d / "vipkeeper.json").is_symlink() and (d / "vipkeeper.json").read_text() == "{}\n"


def test_own_directory_is_created_root_only(tmp_path) -> None:
    d = tmp_path / "run" / "vipkeeper"
    ensure_private_dir(str(d))
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
