"""track_file value parsing (keepalived's strtol rules) and script security checks."""

import os
import stat

import pytest

from vipkeeper.track.file import read_value, strtol0
from vipkeeper.track.procfs import parse_stat
from vipkeeper.track.script_security import unsafe_reasons


@pytest.mark.parametrize("text,value", [
    (b"12\n", 12), (b"  -7 junk", -7), (b"0x1f", 31), (b"010", 8), (b"abc", 0), (b"", 0), (b"+5", 5),
    (b"99999999999999999999", None),
])
def test_strtol(text, value):
    assert strtol0(text) == value


def test_read_value_missing_empty_and_out_of_int_range(tmp_path):
    f = tmp_path / "v"
    assert read_value(str(f)) == 0
    f.write_text("")
    assert read_value(str(f)) == 0
    f.write_text("4294967296\n")
    assert read_value(str(f)) is None  # keepalived: "Invalid number ... - ignoring"
    f.write_text("-3\n")
    assert read_value(str(f)) == -3


def test_parse_stat_name_with_parens_and_spaces():
    line = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10\n"
    st = parse_stat(line)
    assert st is not None and st.comm == "a) b (c)" and st.state == "S" and st.start == 12345
    assert parse_stat(b"") is None and parse_stat(b"42 (x") is None


def test_security_flags_world_writable_and_non_root_owner(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    os.chmod(tmp_path, 0o755)
    s = d / "chk.sh"
    s.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(s, 0o755)
    os.chmod(d, 0o777)
    reasons = unsafe_reasons(str(s))
    assert any("writable by anyone" in r for r in reasons)
    os.chmod(d, 0o777 | stat.S_ISVTX)
    assert not any(str(d) in r and "anyone" in r for r in unsafe_reasons(str(s)))
    os.chown(s, 65534, 65534)
    assert any("not root" in r for r in unsafe_reasons(str(s)))


def test_security_accepts_root_owned_system_binary():
    assert unsafe_reasons("/bin/true") == []
