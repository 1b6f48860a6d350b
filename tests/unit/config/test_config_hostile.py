"""Input that cannot be a configuration: one ConfigError with file:line, never a hang or a
traceback, each within a bounded time."""

from __future__ import annotations

import os
import time

import pytest

from vipkeeper.config import ConfigError, load, loads


def refuse(path) -> ConfigError:
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert time.monotonic() - started < 60  # a hang guard, not a speed goal (bench/ has that)
    assert str(info.value).startswith(f"{info.value.where.file}:{info.value.where.line}: ")
    return info.value


def test_missing_file(tmp_path):
    error = refuse(tmp_path / "nope.conf")
    assert "cannot read" in error.message


def test_directory(tmp_path):
    assert "directory" in refuse(tmp_path).message


def test_unclosed_brace(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text("global_defs {\n router_id a\n}\nvrrp_instance VI_1 {\n interface eth0\n")
    error = refuse(path)
    assert error.where.line == 4 and "never closed" in error.message


def test_extra_closing_brace(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text("global_defs {\n router_id a\n}\n}\n")
    error = refuse(path)
    assert error.where.line == 4 and "unexpected '}'" in error.message


def test_include_loop(tmp_path):
    (tmp_path / "a.conf").write_text("include b.conf\n")
    (tmp_path / "b.conf").write_text("\ninclude a.conf\n")
    error = refuse(tmp_path / "a.conf")
    assert "include loop" in error.message and error.where.line == 2


def test_self_include(tmp_path):
    (tmp_path / "a.conf").write_text("include a.conf\n")
    assert "include loop" in refuse(tmp_path / "a.conf").message


def test_missing_include(tmp_path):
    (tmp_path / "a.conf").write_text("global_defs {\n}\ninclude nosuch.conf\n")
    error = refuse(tmp_path / "a.conf")
    assert error.where.line == 3 and "nosuch.conf" in error.message


def test_binary_garbage(tmp_path):
    path = tmp_path / "bin.conf"
    path.write_bytes(os.urandom(4096) + b"\x00")
    assert "binary" in refuse(path).message


def test_control_characters_without_nul(tmp_path):
    path = tmp_path / "bin.conf"
    path.write_bytes(bytes(range(1, 32)) * 10)
    assert "binary" in refuse(path).message


def test_deep_nesting(tmp_path):
    path = tmp_path / "deep.conf"
    path.write_text("vrrp_instance VI_1 " + "{" * 100_000 + "\n")
    assert "nested" in refuse(path).message


def test_deep_nesting_closed(tmp_path):
    path = tmp_path / "deep.conf"
    path.write_text("a {\n" * 50_000 + "}\n" * 50_000)
    assert "nested" in refuse(path).message


def test_ten_megabytes_of_words_is_refused_quickly(tmp_path):
    path = tmp_path / "big.conf"
    path.write_text("lorem ipsum dolor sit amet\n" * 400_000)  # ~10.8 MB
    assert "unknown keywords" in refuse(path).message


def test_large_valid_config_parses_in_linear_time(tmp_path):
    block = ("vrrp_instance VI_{n} {{\n interface eth0\n virtual_router_id {v}\n priority 100\n"
             " advert_int 1\n virtual_ipaddress {{\n 192.0.2.{v}/24\n }}\n}}\n")
    text = "".join(block.format(n=n, v=n % 255 + 1) for n in range(20_000))
    assert len(text) > 2_000_000
    path = tmp_path / "big.conf"
    path.write_text(text)
    started = time.monotonic()
    config = load(str(path))
    elapsed = time.monotonic() - started
    assert len(config.instances) == 20_000
    assert not config.usable  # duplicate VRIDs on eth0
    assert elapsed < 120, elapsed  # a hang guard on a loaded CI machine; bench/ measures speed


def test_sequence_bomb_is_bounded():
    started = time.monotonic()
    with pytest.raises(ConfigError):
        loads("~SEQ(A, 1, 100000) ~SEQ(B, 1, 100000) x ${A}.${B}\n")
    assert time.monotonic() - started < 60  # hang guard


def test_exponential_definition_is_bounded():
    text = "$A=x x\n" + "".join(f"$A{n}=${{A{'' if n == 0 else n - 1}}} ${{A{'' if n == 0 else n - 1}}}\n"
                                 for n in range(40)) + "${A39}\n"
    with pytest.raises(ConfigError):
        loads(text)


def _empty_multiplying_definitions(depth: int = 30, fan: int = 4) -> str:
    """Issue 20 #4: definitions whose use multiplies into lines that all expand to nothing.
    Nothing is ever emitted, so a budget on emitted lines never fires (4**30 lines: hours)."""
    lines = ["$E="]
    prev = "E"
    for i in range(1, depth + 1):
        lines.append(f"$D{i}=\\")
        lines += [f"${prev} \\"] * (fan - 1) + [f"${prev}"]
        prev = f"D{i}"
    lines.append(f"${prev}")
    return "\n".join(lines) + "\n"


def test_definitions_expanding_to_empty_lines_fail_fast(tmp_path):
    path = tmp_path / "k.conf"
    text = _empty_multiplying_definitions()
    assert len(text) < 1024
    path.write_text(text)
    started = time.monotonic()
    error = refuse(path)
    elapsed = time.monotonic() - started
    assert error.where.file == str(path) and error.where.line == text.count("\n")
    assert "logical lines" in error.message
    assert elapsed < 20, elapsed  # seconds with the budget; hours without it


def test_check_reports_the_hostile_file_as_one_line(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "k.conf"
    path.write_text(_empty_multiplying_definitions())
    out = subprocess.run([sys.executable, "-m", "vipkeeper", "check", "-f", str(path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:") and "logical lines" in lines[0]


def test_include_of_a_fifo_fails_at_once(tmp_path):
    fifo = tmp_path / "pipe.conf"
    os.mkfifo(fifo)
    path = tmp_path / "k.conf"
    path.write_text(f"global_defs {{\n router_id a\n}}\ninclude {fifo}\n")
    started = time.monotonic()
    error = refuse(path)
    assert time.monotonic() - started < 5  # without O_NONBLOCK the open blocks for a writer forever
    assert error.where.line == 4 and "not a regular file" in error.message


def test_fifo_as_the_main_file_fails_at_once(tmp_path):
    fifo = tmp_path / "pipe.conf"
    os.mkfifo(fifo)
    error = refuse(fifo)
    assert "not a regular file" in error.message


def test_include_fan_out_is_bounded(tmp_path):
    """Each file includes the next one twice: 2**20 opens without a bound on opens."""
    for n in range(20):
        (tmp_path / f"f{n}.conf").write_text(f"include f{n + 1}.conf\ninclude f{n + 1}.conf\n")
    (tmp_path / "f20.conf").write_text("! leaf\n")
    started = time.monotonic()
    error = refuse(tmp_path / "f0.conf")
    assert "include files opened" in error.message
    assert time.monotonic() - started < 30
