"""docs/metrics.md lists exactly the metrics the code exports, with their types and labels.

The exported set is what a scrape of a full snapshot yields (the shared SAMPLE fills every
part), cross-checked against every `vipkeeper_*` name written in control/metrics.py, so a metric
the sample does not reach still counts as existing in the code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from vipkeeper.control import metrics

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "metrics.md"
ROW = re.compile(r"^\|\s*`(?P<name>[a-z_:][a-z0-9_:]*)`\s*\|\s*(?P<type>\w+)\s*\|\s*(?P<labels>[^|]*)\|")


def documented(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            assert m["name"] not in out, f"{m['name']} documented twice"
            out[m["name"]] = (m["type"], frozenset(re.findall(r"`([a-z_]+)`", m["labels"])))
    return out


def exported(snapshot: dict) -> dict[str, tuple[str, frozenset[str]]]:
    out = {}
    for family in metrics.make_registry(lambda: snapshot).collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        out[name] = (family.type, frozenset(k for s in family.samples for k in s.labels))
    return out


def names_in_code() -> set[str]:
    tree = ast.parse(Path(metrics.__file__).read_text())
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.fullmatch(r"vipkeeper_[a-z0-9_]+", node.value)}


def test_every_metric_in_the_code_is_documented_and_nothing_else(snapshot: dict) -> None:
    code = exported(snapshot)
    base_names = {name.removesuffix("_total") if code[name][0] == "counter" else name for name in code}
    assert names_in_code() <= base_names, "the sample snapshot no longer reaches every metric"
    doc = documented(DOC.read_text())
    assert len(doc) > 30
    assert sorted(set(code) - set(doc)) == [], "in the code, missing from docs/metrics.md"
    assert sorted(set(doc) - set(code)) == [], "in docs/metrics.md, not exported by the code"
    wrong = {name: (doc[name], code[name]) for name in code if doc[name] != code[name]}
    assert wrong == {}, "type or labels differ (doc, code)"


def test_the_comparison_notices_a_missing_row(snapshot: dict) -> None:
    text = DOC.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `vipkeeper_vrrp_state` |"))
    assert "vipkeeper_vrrp_state" not in documented(text.replace(row + "\n", ""))
    assert "vipkeeper_vrrp_state" in exported(snapshot)
