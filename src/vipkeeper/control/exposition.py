"""Prometheus text exposition (format 0.0.4), written piece by piece without prometheus_client.

Rules
- The page is byte for byte what prometheus_client's `generate_latest` wrote for the same
  families (tests/unit/control/test_exposition.py renders both and compares): `# HELP` (backslash
  and newline escaped) and `# TYPE` for every family, also one without samples; a counter's name
  and samples carry `_total`; a histogram's samples are `_bucket{le=...}`, then `_count`, `_sum`;
  label names sorted, label values with backslash, newline and double quote escaped; values as Go
  writes floats: `+Inf`, `-Inf`, `NaN`, `1.0`, and an exponent once the integer part has more
  than six digits (`1.7e+09`).
- Nothing is kept between scrapes and no page is held whole: a family's samples may be a
  generator (metrics.py walks the snapshot's instances once per family), and `iter_text` hands
  out the text in pieces of about 16 KiB as the samples are written, for the server to send.
- Importing this module loads neither prometheus_client nor ssl (issue 18: prometheus_client
  imports ssl, 8.3 MiB of RSS at 1,000 instances before the first scrape).

Theory of operation
A collector is anything with `collect()` yielding `Family` objects; a `Registry` is a list of
collectors. `iter_text(registry)` renders each family as soon as it is yielded; `generate_text`
joins them (tests, and HEAD's Content-Length).
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Iterable, Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:  # no typing at run time (start-up, issue 18)
    from typing import Protocol

    class Collector(Protocol):
        def collect(self) -> Iterable[Family]: ...

__all__ = ["CONTENT_TYPE", "Family", "Registry", "Sample", "format_value", "generate_text", "iter_text"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# one sample: name suffix ("", "_bucket", "_count", "_sum"), (label name, value) pairs, value
Row = tuple[str, tuple[tuple[str, str], ...], float]


# a sample as a reader sees it (tests, the docs check): name, labels (a dict), value; the
# writer uses the rows
Sample = namedtuple("Sample", "name labels value")


class Family:
    """One metric family. `type` is "gauge", "counter" or "histogram"; `name` is without `_total`.

    Samples are added with `add_metric` (label values in `labels` order, as prometheus_client's
    families take them), or given as `rows`: an iterable of `Row`, which may be a generator
    walked once when the page is written.
    """

    __slots__ = ("_rows", "documentation", "labelnames", "name", "type")

    def __init__(self, name: str, documentation: str, type_: str, labels: Iterable[str] = (),
                 value: float | None = None, rows: Iterable[Row] | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.type = type_
        self.labelnames = tuple(labels)
        self._rows: Iterable[Row] = rows if rows is not None else []
        if value is not None:
            self.add_metric((), value)

    def add_metric(self, labels: Iterable[str], value: float) -> None:
        self._own_rows().append(("", tuple(zip(self.labelnames, labels)), value))

    def _own_rows(self) -> list[Row]:
        # An explicit check, not an assert: the daemon runs with PYTHONOPTIMIZE=2 (debian/vipkeeper.service).
        if not isinstance(self._rows, list):
            raise TypeError(f"{self.name}: a family given rows takes no more samples")
        return self._rows

    def add_histogram(self, labels: Iterable[str], buckets: list[tuple[str, float]], sum_value: float) -> None:
        """Buckets as (le, cumulative count), sorted, the last `+Inf`."""
        rows = self._own_rows()
        pairs = tuple(zip(self.labelnames, labels))
        for le, count in buckets:
            rows.append(("_bucket", (*pairs, ("le", le)), count))
        rows.append(("_count", pairs, buckets[-1][1]))
        rows.append(("_sum", pairs, sum_value))

    @property
    def exposed_name(self) -> str:
        return self.name + "_total" if self.type == "counter" else self.name

    def rows(self) -> Iterable[Row]:
        return self._rows

    @property
    def samples(self) -> Iterator[Sample]:
        base = self.exposed_name if self.type == "counter" else self.name
        for suffix, pairs, value in self._rows:
            yield Sample(base + suffix, dict(pairs), value)


class Registry:
    """The collectors one page is made of, in order."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self.collectors: list[Collector] = list(collectors)

    def register(self, collector: Collector) -> None:
        self.collectors.append(collector)

    def collect(self) -> Iterator[Family]:
        for collector in self.collectors:
            yield from collector.collect()


def format_value(value: float) -> str:
    """A sample value as Go's strconv writes it, the way prometheus_client renders floats."""
    d = float(value)
    if d == math.inf:
        return "+Inf"
    if d == -math.inf:
        return "-Inf"
    if math.isnan(d):
        return "NaN"
    text = repr(d)
    dot = text.find(".")
    if d > 0 and dot > 6:  # Go writes an exponent past six integer digits, Python only past 16
        mantissa = (text[0] + "." + text[1:dot] + text[dot + 1:]).rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape_label(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


CHUNK = 16384  # characters of page text per piece handed out (small pieces: no large buffers)


def _family_lines(family: Family) -> Iterator[str]:
    name = family.exposed_name
    yield f"# HELP {name} {_escape_help(family.documentation)}\n# TYPE {name} {family.type}\n"
    for suffix, pairs, value in family.rows():
        if pairs:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(pairs))
            yield f"{name}{suffix}{{{labels}}} {format_value(value)}\n"
        else:
            yield f"{name}{suffix} {format_value(value)}\n"


def render_family(family: Family) -> str:
    return "".join(_family_lines(family))


def iter_text(registry: Registry | Collector) -> Iterator[bytes]:
    """The page in pieces of about CHUNK characters, each as soon as its samples are written."""
    pending: list[str] = []
    size = 0
    for family in registry.collect():
        for line in _family_lines(family):
            pending.append(line)
            size += len(line)
            if size >= CHUNK:
                yield "".join(pending).encode("utf-8")
                pending.clear()
                size = 0
    if pending:
        yield "".join(pending).encode("utf-8")


def generate_text(registry: Registry | Collector) -> bytes:
    return b"".join(iter_text(registry))


def gauge(name: str, documentation: str, value: float) -> Family:
    return Family(name, documentation, "gauge", value=value)


def counter(name: str, documentation: str, value: float) -> Family:
    return Family(name, documentation, "counter", value=value)

