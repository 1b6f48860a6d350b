"""`vipkeeper check` against `keepalived -t` (2.2.7) on the same files, in the same network namespace.

Both run inside a namespace holding eth0..eth3 (two veth pairs), so "does this interface exist"
gets the same answer for both. For each file: each tool's exit status and the lines it names
(keepalived: "(FILE: Line N)"; vipkeeper: "FILE:N: severity:"). A line vipkeeper names that opens
a block covers the block's lines (vipkeeper names a skipped or refused block once, where
keepalived names lines inside it). keepalived calls vipkeeper's own keywords (OWN: the opt-out
`vipkeeper_run_without`, `control_socket`, ...) unknown and exits 5: a file whose only lines
keepalived names are those is not one vipkeeper must fail (documented in the README).

Run as a script (root) to print the table: python3 tests/net/check_compare.py
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = sorted((DATA / "keepalived-samples").iterdir())
SEEDS = sorted((DATA / "seed").glob("*.conf"))
BROKEN = sorted((DATA / "check-broken").glob("*.conf"))
INTERFACES = (("eth0", "eth1"), ("eth2", "eth3"))

OWN = frozenset({"vipkeeper_run_without", "control_socket", "metrics_listen", "fast_handover"})
_K_LINE = re.compile(r"Line (\d+)\)")
_V_LINE = re.compile(r"^(.+?):(\d+): (error|warning|unsupported|ignored): ", re.MULTILINE)


@dataclass(frozen=True)
class Verdict:
    path: Path
    k_exit: int
    v_exit: int
    k_lines: frozenset[int]
    v_lines: frozenset[int]
    covered: frozenset[int]
    k_output: str
    v_output: str

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def own_lines(self) -> frozenset[int]:
        """Lines holding vipkeeper's own keywords (keepalived calls them unknown)."""
        lines = self.path.read_text(errors="replace").splitlines()
        return frozenset(n for n, line in enumerate(lines, 1) if line.split() and line.split()[0] in OWN)

    @property
    def weaker(self) -> bool:
        """vipkeeper passes what keepalived fails, or misses a line keepalived names."""
        if not self.k_lines <= self.covered | self.own_lines:
            return True
        only_ours = self.k_exit == 5 and self.k_lines and self.k_lines <= self.own_lines
        return self.k_exit != 0 and self.v_exit == 0 and not only_ours

    def row(self) -> str:
        k = ",".join(map(str, sorted(self.k_lines))) or "-"
        v = ",".join(map(str, sorted(self.v_lines))) or "-"
        return f"| {self.name} | {self.k_exit} | {self.v_exit} | {k} | {v} | {'WEAKER' if self.weaker else 'ok'} |"


HEADER = ("| file | keepalived -t exit | vipkeeper check exit | lines keepalived names | lines vipkeeper names "
          "| verdict |\n|---|---|---|---|---|---|")


def block_spans(text: str) -> dict[int, int]:
    """1-based line of each '{' -> line of its matching '}' (comments after ! or # dropped)."""
    spans: dict[int, int] = {}
    stack: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        code = re.split(r"[!#]", line, maxsplit=1)[0]
        for char in code:
            if char == "{":
                stack.append(number)
            elif char == "}" and stack:
                spans.setdefault(stack.pop(), number)
    for opened in stack:
        spans.setdefault(opened, len(text.splitlines()))
    return spans


def covered_lines(path: Path, lines: frozenset[int], misread: frozenset[int] = frozenset()) -> frozenset[int]:
    """`lines`, each with the block it opens; a `misread` line (an unknown block vipkeeper skips,
    saying keepalived misreads what follows) also covers the rest of the block enclosing it."""
    spans = block_spans(path.read_text(errors="replace"))
    result = set(lines)
    for line in lines:
        if line in spans:
            result.update(range(line, spans[line] + 1))
    for line in misread:
        enclosing = [(start, end) for start, end in spans.items() if start < line <= end]
        if enclosing:
            result.update(range(line, min(enclosing, key=lambda se: se[1] - se[0])[1] + 1))
    return frozenset(result)


def make_interfaces(topology, ns: str) -> None:  # type: ignore[no-untyped-def]
    for a, b in INTERFACES:
        topology.run(ns, ["ip", "link", "add", a, "type", "veth", "peer", "name", b])
        for name in (a, b):
            topology.run(ns, ["ip", "link", "set", name, "up"])


def compare(topology, ns: str, path: Path) -> Verdict:  # type: ignore[no-untyped-def]
    keepalived = topology.run(ns, ["/usr/sbin/keepalived", "-t", "-l", "-D", "-f", str(path)],
                              check=False, timeout=60, cwd=str(path.parent))
    vipkeeper = topology.run(ns, [sys.executable, "-m", "vipkeeper", "check", "-f", str(path)],
                             check=False, timeout=60, cwd=str(path.parent))
    k_output = keepalived.stdout + keepalived.stderr
    v_output = vipkeeper.stdout + vipkeeper.stderr
    k_lines = frozenset(int(m) for m in _K_LINE.findall(k_output))
    ours = [m for m in _V_LINE.finditer(v_output) if m.group(1) == str(path)]
    v_lines = frozenset(int(m.group(2)) for m in ours)
    misread = frozenset(int(m.group(2)) for m in ours
                        if "would end the enclosing block" in v_output[m.end():].split("\n", 1)[0])
    return Verdict(path, keepalived.returncode, vipkeeper.returncode, k_lines, v_lines,
                   covered_lines(path, v_lines, misread), k_output, v_output)


def main() -> int:
    from vipkeeper.lab.topology import Topology

    with Topology() as topology:
        ns = topology.add_namespace("check")
        make_interfaces(topology, ns)
        verdicts = [compare(topology, ns, path) for path in (*SAMPLES, *SEEDS, *BROKEN)]
    print(HEADER)
    for verdict in verdicts:
        print(verdict.row())
    weaker = [v.name for v in verdicts if v.weaker]
    print(f"\n{len(verdicts)} files; vipkeeper weaker than keepalived on {len(weaker)}: {' '.join(weaker) or '-'}")
    return 1 if weaker else 0


if __name__ == "__main__":
    sys.exit(main())
