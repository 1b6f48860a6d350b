"""Our text exposition writes the page prometheus_client wrote, and promtool accepts it.

The reference is prometheus_reference.py: the families as control/metrics.py built them with
prometheus_client before issue 18, rendered by prometheus_client's own `generate_latest`.
- On a realistic snapshot (the shared SAMPLE plus 1,000 instances, with label values holding
  backslashes, quotes, newlines and non-ASCII, and values that are +Inf, -Inf, NaN, huge, tiny,
  negative and boolean) the two pages are equal byte for byte outside `process_*`, and sample by
  sample through Prometheus' parser (same names, labels, values; HELP and TYPE of every family).
- `process_*`: the same families, types, help texts and labels; the values of one process read
  at nearly the same time agree (start time and fd limit exactly, the rest within bounds).
- `promtool check metrics` finds nothing wrong with our page (process metrics included).
- The values are formatted as prometheus_client's floatToGoString, over a spread of floats.
- Served over HTTP/1.1 (as Prometheus asks) the page is streamed chunked and is the same page; a
  family that fails after the first pieces went out leaves the page without its last chunk, which
  the client reads as an error (not as a shorter page); one that fails before is a 500.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import subprocess
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from vipkeeper.control.exposition import Family, format_value, generate_text
from vipkeeper.control.metrics import make_registry

from . import prometheus_reference as reference
from .conftest import NOW, SAMPLE

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
STATES = ["INIT", "BACKUP", "MASTER", "FAULT", "STOP", "weird"]


def realistic() -> dict:
    snap = copy.deepcopy(SAMPLE)
    snap["daemon"]["version"] = 'v"1.0"\\beta\nnext'
    snap["daemon"]["loop"]["max"] = math.inf
    snap["daemon"]["loop"]["last"] = 1e-9
    for i in range(1000):
        snap["instances"].append({
            "name": f"VI_{i}" if i % 97 else f'odd "name" \\ {i}\nline2 é',
            "state": STATES[i % len(STATES)], "since": NOW - i * 0.123, "interface": f"vlan{i % 300}",
            "vrid": 1 + i % 255, "base_priority": 100 + i % 50, "effective_priority": (100 + i % 50) * 1.5,
            "master": {"priority": -i} if i % 3 else None,
            "vips": [{"address": f"198.51.100.{i % 250}/24", "dev": f"vlan{i % 300}", "present": bool(i % 2)}],
            "trackers": [{"kind": "script", "name": f"chk_{i % 7}", "state": ["up", "down", "init", "x"][i % 4],
                          "contribution": [-20, 0, 10.5, None][i % 4], "fault": i % 5 == 0}],
            "counters": {"adverts_sent": i * 1_000_003, "adverts_received": 10 ** (i % 20),
                         "priority_zero_sent": True, "priority_zero_received": math.nan if i == 5 else i,
                         "transitions": -math.inf if i == 6 else i % 4, "became_master": 0.1 * i,
                         "drops": {"ttl": i, "auth": "n/a", "vrid": i % 3}},
            "vip_conflicts": [{"address": f"198.51.100.{i % 250}", "mac": "02:00:00:00:00:0b"}] if i % 11 == 0 else [],
            "socket": {"open": i % 4 != 0, "fault": None if i % 8 else "down", "reopens": i % 9,
                       "errors": {"send_enodev": i % 13}} if i % 10 else None,
        })
    return snap


def split_process(text: str) -> tuple[str, str]:
    """(our families, the process_* families): every line belongs to the family above it."""
    ours, process = [], []
    target = ours
    for line in text.splitlines(keepends=True):
        if line.startswith("# HELP "):
            target = process if line.split()[2].startswith("process_") else ours
        target.append(line)
    return "".join(ours), "".join(process)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"sample {key} twice"
            out[key] = s.value
    return out


def same_value(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_the_page_is_prometheus_clients_page_outside_process_metrics() -> None:
    snap = realistic()
    ours = generate_text(make_registry(lambda: snap)).decode()
    theirs = generate_latest(reference.make_registry(lambda: snap)).decode()
    ours_main, ours_process = split_process(ours)
    theirs_main, theirs_process = split_process(theirs)
    assert ours_main.count("\n") > 15_000  # the 1,000 instances are in it
    assert ours_main == theirs_main
    a, b = samples(ours_main), samples(theirs_main)
    assert a.keys() == b.keys()
    assert all(same_value(a[k], b[k]) for k in a)
    assert {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(ours)} == \
        {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(theirs)}
    assert ours_process and theirs_process


def test_process_metrics_agree_with_prometheus_clients_collector() -> None:
    ours = samples(split_process(generate_text(make_registry(dict)).decode())[1])
    theirs = samples(split_process(generate_latest(reference.make_registry(dict)).decode())[1])
    assert ours.keys() == theirs.keys() == {
        (name, frozenset()) for name in (
            "process_virtual_memory_bytes", "process_resident_memory_bytes", "process_start_time_seconds",
            "process_cpu_seconds_total", "process_open_fds", "process_max_fds")}
    values = {name: (ours[(name, frozenset())], theirs[(name, frozenset())]) for name, _ in ours}
    assert values["process_start_time_seconds"][0] == values["process_start_time_seconds"][1]
    assert values["process_max_fds"][0] == values["process_max_fds"][1]
    assert abs(values["process_open_fds"][0] - values["process_open_fds"][1]) <= 2
    assert abs(values["process_cpu_seconds_total"][0] - values["process_cpu_seconds_total"][1]) <= 0.5
    for name in ("process_virtual_memory_bytes", "process_resident_memory_bytes"):
        assert abs(values[name][0] - values[name][1]) <= 64 * 2 ** 20, name
    rss = int(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmRSS:")))
    assert abs(values["process_resident_memory_bytes"][0] - rss * 1024) <= 64 * 2 ** 20
    assert values["process_open_fds"][0] == len(os.listdir("/proc/self/fd")) or \
        abs(values["process_open_fds"][0] - len(os.listdir("/proc/self/fd"))) <= 2


# promtool's name lints on two names kept as they were (renaming them would break dashboards);
# it finds the same on prometheus_client's page
KNOWN_LINTS = {
    "vipkeeper_loop_lag_histogram_seconds metric name should not include type 'histogram'",
    'vipkeeper_track_process_count non-histogram and non-summary metrics should not have "_count" suffix',
}


def promtool_check(page: bytes) -> tuple[int, set[str]]:
    assert Path(PROMTOOL).exists(), "promtool missing: install Debian's prometheus package (debian-packages.txt)"
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=page, capture_output=True, timeout=60, check=False)
    return done.returncode, set((done.stdout + done.stderr).decode().splitlines())


def test_promtool_accepts_our_page() -> None:
    """Exit 3 is promtool's "lint problems" (a page it cannot parse is exit 1): only the two known."""
    snap = realistic()
    page = generate_text(make_registry(lambda: snap))
    assert b"process_resident_memory_bytes" in page and b"vipkeeper_loop_lag_histogram_seconds_bucket" in page
    assert promtool_check(page) == (3, KNOWN_LINTS)
    assert promtool_check(generate_latest(reference.make_registry(lambda: snap))) == (3, KNOWN_LINTS)


def test_promtool_check_can_fail() -> None:
    """promtool really parses the page: a sample line it cannot parse is exit 1."""
    page = generate_text(make_registry(dict)) + b'vipkeeper_up{iname="a} 1\n'
    code, out = promtool_check(page)
    assert code == 1, out


def test_values_are_formatted_as_prometheus_client_formats_them() -> None:
    values = [0, 1, -1, 0.5, 1e-9, 1e-300, 123456, 1234567, 1700000000.123, 1e16, 1e22, 123456789012345678,
              -1700000000.5, 2 ** 53 + 1, math.inf, -math.inf, math.nan, True, False, 0.1 + 0.2, 5e-324, 1.7976931348623157e308]
    for v in values:
        assert format_value(v) == floatToGoString(v), v


def test_an_empty_family_still_has_help_and_type() -> None:
    class One:
        def collect(self):
            yield Family("x_seconds", "a\\b\nc", "histogram")

    assert generate_text(One()) == b"# HELP x_seconds a\\\\b\\nc\n# TYPE x_seconds histogram\n"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _get_http11(snapshot: dict) -> tuple[int, bytes | Exception]:
    import asyncio
    import http.client

    from vipkeeper.control.metrics import MetricsServer

    async def main() -> tuple[int, bytes | Exception]:
        server = MetricsServer("127.0.0.1:0", lambda: snapshot)
        await server.start()
        try:
            host, port = server.addresses[0]

            def fetch() -> tuple[int, bytes | Exception]:
                conn = http.client.HTTPConnection(host, port, timeout=5)  # HTTP/1.1
                conn.request("GET", "/metrics")
                resp = conn.getresponse()
                try:
                    return resp.status, resp.read()
                except http.client.IncompleteRead as exc:
                    return resp.status, exc
                finally:
                    conn.close()

            return await asyncio.get_running_loop().run_in_executor(None, fetch)
        finally:
            await server.close()

    return asyncio.run(main())


def test_an_http11_scrape_is_streamed_and_a_page_cut_short_is_a_failed_read(caplog) -> None:
    snap = realistic()
    status, body = _get_http11(snap)
    assert status == 200 and isinstance(body, bytes)
    assert split_process(body.decode())[0] == split_process(generate_text(make_registry(lambda: snap)).decode())[0]
    # a family that fails after the first pieces went out: no last chunk, the client sees it
    snap["scripts"] = [{"name": Unprintable(), "state": "up"}]
    status, body = _get_http11(snap)
    assert status == 200 and isinstance(body, Exception), body
    assert "generating the page failed" in caplog.text
    # failing before anything went out: a 500
    status, body = _get_http11({"scripts": [{"name": Unprintable()}]})
    assert status == 500


def test_a_family_given_rows_refuses_more_samples_even_without_asserts() -> None:
    """An explicit check, not an assert (the daemon runs with PYTHONOPTIMIZE=2): under -OO the
    assert was gone and a tuple of rows failed with an AttributeError that named nothing."""
    import pytest

    given = Family("vk_x", "x", "gauge", ("a",), rows=(("", (("a", "1"),), 1.0),))
    with pytest.raises(TypeError, match="vk_x: a family given rows takes no more samples"):
        given.add_metric(("2",), 2.0)
    with pytest.raises(TypeError, match="takes no more samples"):
        given.add_histogram(("2",), [("+Inf", 1.0)], 1.0)
    own = Family("vk_y", "y", "gauge", ("a",))
    own.add_metric(("1",), 1.0)
    assert [row[2] for row in own._rows] == [1.0]
