"""What `lint` and `doctor` report: findings, and how they are printed.

Rules
- A finding names a stable rule id (VK1xx), a severity, the place to look (FILE:LINE), one line
  saying what is wrong and one line saying what to change. Ids never change meaning; a retired
  rule's id is not reused, so scripts that filter on ids keep working.
- Severities: `error` (split brain or a dead tracker is likely), `warning` (fragile; will bite
  under load, on reload or on a slow start), `info` (worth knowing, not wrong).
- Exit status is decided here, once, for both commands: see `exit_status`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from vipkeeper.config.model import Where

Level = Literal["error", "warning", "info"]
LEVELS: tuple[Level, ...] = ("error", "warning", "info")
_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One thing wrong, with its rule, place, message and fix; `related` are further places."""

    rule: str
    severity: Level
    where: Where
    message: str
    fix: str
    related: tuple[Where, ...] = ()
    evidence: tuple[str, ...] = field(default=(), compare=False)

    def sort_key(self) -> tuple[object, ...]:
        return (self.where.file, self.where.line, _RANK[self.severity], self.rule, self.message)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule,
            "severity": self.severity,
            "file": self.where.file,
            "line": self.where.line,
            "message": self.message,
            "fix": self.fix,
        }
        if self.related:
            out["related"] = [str(w) for w in self.related]
        if self.evidence:
            out["evidence"] = list(self.evidence)
        return out

    def as_text(self) -> str:
        text = f"{self.where}: {self.severity}: {self.rule} {self.message}\n    fix: {self.fix}"
        for line in self.evidence:
            text += f"\n    | {line}"
        return text


def counts(findings: list[Finding]) -> dict[str, int]:
    return {level: sum(1 for f in findings if f.severity == level) for level in LEVELS}


def summary(findings: list[Finding]) -> str:
    c = counts(findings)
    return f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} info"


def exit_status(findings: list[Finding], strict: bool) -> int:
    """2 if any error; 1 if warnings and `strict`; else 0 (info never fails a run)."""
    c = counts(findings)
    if c["error"]:
        return 2
    if c["warning"] and strict:
        return 1
    return 0


def to_json(payload: dict[str, object]) -> str:
    return json.dumps(payload, indent=2, sort_keys=False)
