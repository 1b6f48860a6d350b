"""The reload's parse runs off the event loop, with a deadline (issue 20 #4).

A hostile file (definitions multiplying into empty lines) is parsed while a ticker measures how
late the event loop runs its timers; the loop must stay responsive, and a deadline shorter than
the parse must give the reload up at once, refusing a second reload while the first parse
still runs."""

from __future__ import annotations

import asyncio
import time

import pytest

from vipkeeper.daemon.runtime import RunOptions, Runtime, StartupError


def hostile(depth: int = 30, fan: int = 4) -> str:
    lines = ["$E="]
    prev = "E"
    for i in range(1, depth + 1):
        lines.append(f"$D{i}=\\")
        lines += [f"${prev} \\"] * (fan - 1) + [f"${prev}"]
        prev = f"D{i}"
    lines.append(f"${prev}")
    return "\n".join(lines) + "\n"


async def _ticker(lags: list[float], stop: asyncio.Event, period: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + period
        await asyncio.sleep(period)
        lags.append(loop.time() - due)


def test_parse_runs_off_the_loop_and_fails_with_file_and_line(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text(hostile())
    runtime = Runtime(RunOptions(config_file=str(path)))

    async def main():
        lags: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticker(lags, stop))
        started = time.monotonic()
        with pytest.raises(StartupError) as info:
            await runtime._parse_off_loop()
        took = time.monotonic() - started
        stop.set()
        await ticker
        return info.value, took, lags

    error, took, lags = asyncio.run(main())
    print(f"\nhostile parse {took:.2f}s, {len(lags)} ticks, worst timer lag {max(lags) * 1000:.1f} ms")
    assert str(error).startswith(f"{path}:{hostile().count(chr(10))}: ") and "logical lines" in str(error)
    assert len(lags) >= took / 0.01 / 3  # the loop kept running its timers meanwhile
    assert max(lags) < 0.2


def test_a_parse_past_its_deadline_is_given_up_and_blocks_the_next_reload(tmp_path):
    path = tmp_path / "k.conf"
    path.write_text(hostile())
    runtime = Runtime(RunOptions(config_file=str(path), reload_parse_deadline=0.2))

    async def main():
        started = time.monotonic()
        with pytest.raises(StartupError) as first:
            await runtime._parse_off_loop()
        took = time.monotonic() - started
        with pytest.raises(StartupError) as second:
            await runtime._parse_off_loop()
        assert runtime._parse_future is not None
        while not runtime._parse_future.done():  # bounded by the lexer's budget
            await asyncio.sleep(0.05)
        runtime._parse_executor.shutdown(wait=True)
        return first.value, took, second.value

    first, took, second = asyncio.run(main())
    assert "not parsed within 0.2s" in str(first) and took < 1.0
    assert "still being parsed" in str(second)
