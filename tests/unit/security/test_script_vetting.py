"""How a script is checked before it may run (script_launch.vet_command, script_security)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from vipkeeper.script_launch import Identity, command_argv, default_user_problem, vet_command
from vipkeeper.track.script_security import unsafe_reasons

ROOT = Identity("root", 0, 0, (0,))
NOBODY = pwd.getpwnam("nobody")
NOBODY_ID = Identity("nobody", NOBODY.pw_uid, NOBODY.pw_gid, (NOBODY.pw_gid,))


@pytest.fixture
def open_base():
    """A 0755 directory under /tmp that every user can enter (pytest's tmp_path is under a
    0700 directory of root's)."""
    base = tempfile.mkdtemp(prefix="vkvet")
    os.chmod(base, 0o755)
    try:
        yield Path(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def safe_dir(tmp_path):
    """A root-owned 0755 directory (pytest's tmp_path parents are root's, 0700/0755)."""
    d = tmp_path / "safe"
    d.mkdir()
    os.chmod(d, 0o755)
    return d


def script(d, name="s.sh", mode=0o755, owner=0):
    p = d / name
    p.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(p, mode)
    os.chown(p, owner, owner)
    return p


def test_safe_root_script_is_exec_directly(safe_dir):
    p = script(safe_dir)
    v = vet_command((str(p), "a b"), f"{p} 'a b'", ROOT, script_security=True)
    assert v.ok and not v.unsafe
    assert command_argv(v, ("INSTANCE", "VI_1")) == [str(p), "a b", "INSTANCE", "VI_1"]


def test_world_writable_user_script_refused_under_security_warned_without(safe_dir):
    p = script(safe_dir, mode=0o777, owner=NOBODY.pw_uid)
    v = vet_command((str(p),), str(p), ROOT, script_security=True)
    assert not v.ok and v.refused == f"Unsafe permissions found for script '{p}'"
    assert any("writable by anyone" in r for r in v.unsafe) and any("not root" in r for r in v.unsafe)
    with pytest.raises(ValueError):
        command_argv(v)
    v = vet_command((str(p),), str(p), ROOT, script_security=False)
    assert v.ok and v.unsafe  # keepalived runs it, with "Unsafe permissions found" logged


def test_user_symlink_on_the_written_path_is_unsafe_though_the_target_is_safe(safe_dir, tmp_path):
    """The resolved path alone (/.../safe/s.sh, all root's) passes; the path as written goes
    through a symlink nobody owns, in a sticky world-writable directory: nobody can re-point it."""
    target = script(safe_dir)
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    link = sticky / "link.sh"
    os.symlink(target, link)
    os.lchown(link, NOBODY.pw_uid, NOBODY.pw_gid)
    assert unsafe_reasons(str(target)) == []
    reasons = unsafe_reasons(str(link))
    assert reasons == [f"{link} is a symbolic link owned by uid {NOBODY.pw_uid}, not root"]
    assert not vet_command((str(link),), str(link), ROOT, script_security=True).ok


def test_directory_symlink_owned_by_root_is_fine():
    # /bin is a root-owned symlink to usr/bin on merged-/usr systems; keepalived 2.2.7 runs /bin/true
    assert unsafe_reasons("/bin/true") == []
    assert vet_command(("/bin/true",), "/bin/true", ROOT, True).ok


def test_bare_name_is_searched_on_path_and_checked_there(safe_dir, monkeypatch):
    script(safe_dir, name="vk-bare-check")
    monkeypatch.setenv("PATH", f"/nonexistent:{safe_dir}:/usr/bin")
    v = vet_command(("vk-bare-check", "x"), "vk-bare-check x", ROOT, True)
    assert v.ok and v.argv == (str(safe_dir / "vk-bare-check"), "x")
    bad = script(safe_dir, name="vk-bare-bad", mode=0o777, owner=NOBODY.pw_uid)
    v = vet_command(("vk-bare-bad",), "vk-bare-bad", ROOT, True)
    assert not v.ok and str(bad) in " ".join(v.unsafe)
    v = vet_command(("vk-no-such-thing",), "vk-no-such-thing", ROOT, True)
    assert v.refused == "Cannot find script vk-no-such-thing in path"


def test_non_executable_is_refused_not_given_to_a_shell(safe_dir):
    p = script(safe_dir, mode=0o644)
    v = vet_command((str(p),), str(p), ROOT, script_security=False)
    assert v.refused == f"WARNING - script '{p}' is not executable for uid:gid 0:0"
    # executable for root, but not for the user it will run as
    q = script(safe_dir, name="owner-only", mode=0o700)
    assert vet_command((str(q),), str(q), ROOT, False).ok
    assert vet_command((str(q),), str(q), NOBODY_ID, False).refused == \
        f"WARNING - script '{q}' is not executable for uid:gid {NOBODY.pw_uid}:{NOBODY.pw_gid}"


def test_shell_words_that_are_not_a_file_are_refused():
    v = vet_command(("exit", "0"), "exit 0", ROOT, False)
    assert v.refused == "Cannot find script exit in path"


def test_keepalived_file_test_form_goes_to_the_shell():
    v = vet_command(("</etc/hostname",), "</etc/hostname", ROOT, True)
    assert v.ok and command_argv(v) == ["/bin/sh", "-c", "</etc/hostname"]


def test_unprivileged_script_is_not_checked_for_ownership(open_base):
    d = open_base / "open"
    d.mkdir()
    os.chmod(d, 0o777)
    p = script(d, mode=0o777, owner=NOBODY.pw_uid)
    v = vet_command((str(p),), str(p), NOBODY_ID, True)
    assert v.ok and not v.unsafe  # keepalived checks only scripts run as root / setuid root


def test_missing_default_user_under_security():
    try:
        pwd.getpwnam("keepalived_script")
        pytest.skip("host has keepalived_script")
    except KeyError:
        pass
    assert default_user_problem(None, True).startswith("Unable to set default user keepalived_script for script")
    assert default_user_problem(None, False) is None
    assert default_user_problem("root", True) is None


def test_a_directory_the_script_user_cannot_enter_hides_the_script(open_base):
    closed = open_base / "closed"
    closed.mkdir()
    p = script(closed, mode=0o755)
    os.chmod(closed, 0o755)
    assert vet_command((str(p),), str(p), NOBODY_ID, False).ok
    os.chmod(closed, 0o700)  # root's only
    assert vet_command((str(p),), str(p), ROOT, False).ok
    v = vet_command((str(p),), str(p), NOBODY_ID, False)
    assert not v.ok and "not executable for uid:gid" in v.refused
