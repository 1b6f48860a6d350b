"""The soak's summary (bench/soak.py): first/last/max and slopes of RSS and fd samples (pure)."""

from __future__ import annotations

import pytest

from bench.soak import Sample, slope, summarise


def test_slope_of_a_line_and_of_too_few_points():
    assert slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2.0)
    assert slope([(0, 5)]) == 0.0
    assert slope([(1, 5), (1, 7)]) == 0.0


def test_flat_samples_are_flat():
    samples = [Sample(t * 10.0, 30000 + (t % 2) * 4, 15 - (t % 2)) for t in range(60)]
    s = summarise(samples, rss_slope_limit=64)
    assert s["flat"] is True
    assert s["rss_kib"] == {"first": 30000, "last": 30004, "max": 30004, "slope_per_min_2nd_half": pytest.approx(0, abs=1)}
    assert s["fds"]["first"] == 15 and s["fds"]["max"] == 15 and s["samples"] == 60


def test_a_leak_of_fds_or_memory_is_not_flat():
    fd_leak = [Sample(t * 10.0, 30000, 15 + t // 3) for t in range(60)]
    assert summarise(fd_leak, 64)["flat"] is False
    rss_leak = [Sample(t * 10.0, 30000 + 50 * t, 15) for t in range(60)]  # 300 KiB/min
    s = summarise(rss_leak, 64)
    assert s["flat"] is False and s["rss_kib"]["slope_per_min_2nd_half"] == pytest.approx(300)
    assert summarise([], 64)["flat"] is False
