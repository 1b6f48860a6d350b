"""Summaries, the printed tables and the JSON files under bench/results/.

Every figure prints rows of one shape: what was measured, which daemon, n, min / median / p90 /
max (p99 where a figure asks for it), a bound where the RFC gives one, and the ratio of
vipkeeper's median to keepalived's median for the same row (< 1 means vipkeeper is faster).
Runs that produced no sample (timeouts) are counted as `miss`, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics

from bench.daemons import versions

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(samples: list[float | None]) -> dict:
    got = [s for s in samples if s is not None]
    out: dict = {"n": len(got), "miss": len(samples) - len(got), "samples": [None if s is None else round(s, 4) for s in samples]}
    if got:
        out.update(min=min(got), median=statistics.median(got), p90=quantile(got, 0.9), p99=quantile(got, 0.99),
                   max=max(got))
    return out


class Table:
    """One figure's rows; `add` per (row, impl), `show` prints with ratios against keepalived."""

    def __init__(self, figure: str, title: str, unit: str, p99: bool = False) -> None:
        self.figure = figure
        self.title = title
        self.unit = unit
        self.p99 = p99
        self.rows: list[dict] = []
        self.notes: list[str] = []

    def add(self, row: str, impl: str, samples: list[float | None], bound: float | None = None, **extra: object) -> dict:
        entry = {"row": row, "impl": impl, "bound": bound, **summary(samples), **extra}
        self.rows.append(entry)
        return entry

    def ratio(self, entry: dict) -> float | None:
        if not entry["impl"].startswith("vipkeeper") or "median" not in entry:
            return None
        for other in self.rows:
            if other["row"] == entry["row"] and other["impl"] == "keepalived" and other.get("median"):
                return entry["median"] / other["median"]
        return None

    def render(self) -> str:
        cols = ["min", "median", "p90"] + (["p99"] if self.p99 else []) + ["max"]
        head = f"{'row':<34} {'daemon':<20} {'n':>3} {'miss':>4} " + " ".join(f"{c:>8}" for c in cols)
        head += f" {'bound':>8} {'ratio':>6}"
        lines = [f"== {self.figure}: {self.title} [{self.unit}]", head, "-" * len(head)]
        for e in self.rows:
            vals = " ".join(f"{e[c]:8.1f}" if c in e else f"{'-':>8}" for c in cols)
            bound = f"{e['bound']:8.1f}" if e.get("bound") is not None else f"{'':>8}"
            r = self.ratio(e)
            ratio = f"{r:6.2f}" if r is not None else f"{'':>6}"
            lines.append(f"{e['row']:<34} {e['impl']:<20} {e['n']:>3} {e['miss']:>4} {vals} {bound} {ratio}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def show(self) -> None:
        print(self.render(), flush=True)

    def save(self, mode: str) -> str:
        os.makedirs(RESULTS, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        path = os.path.join(RESULTS, f"{self.figure}-{stamp}.json")
        for e in self.rows:
            e["ratio"] = self.ratio(e)
        with open(path, "w") as f:
            json.dump({"figure": self.figure, "title": self.title, "unit": self.unit, "mode": mode,
                       "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                       "cores": os.cpu_count(), "loadavg": os.getloadavg(), "versions": versions(),
                       "rows": self.rows, "notes": self.notes, "text": self.render()}, f, indent=1)
        return path
