"""`vipkeeper lab`: a live failover in network namespaces, the first thing a new user runs.

The work is in scenario.py; this module parses options, turns SIGTERM into the same clean-up as
Ctrl-C, and renders the phases either for a person (one header line per phase, aligned offsets)
or as one JSON document.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
from typing import Any

import click


class _Terminated(Exception):
    pass


@click.command(name="lab", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--nodes", type=click.IntRange(2, 3), default=2, show_default=True, help="Relay nodes on the bridge.")
@click.option("--scenario", type=click.Choice(["service", "node", "both"]), default="service", show_default=True,
              help="service: kill the Master's tracked haproxy; node: SIGKILL the Master's vipkeeper; both: one then the other.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the timeline.")
def lab(nodes: int, scenario: str, as_json: bool) -> None:
    """Build an SMTP relay pair in namespaces, break the Master, and show the failover timeline.

    Needs root. Everything it creates (namespaces, processes, files) is removed at the end,
    also on Ctrl-C.
    """
    if importlib.util.find_spec("pyroute2") is None:
        raise click.ClickException("vipkeeper lab needs pyroute2: install the extra, pip install 'vipkeeper[lab]'")
    if os.geteuid() != 0:
        raise click.ClickException("vipkeeper lab needs root (it creates network namespaces)")
    from vipkeeper.lab.proc import LabTimeout
    from vipkeeper.lab.scenario import RelayLab
    from vipkeeper.lab.topology import LabError

    me = os.getpid()

    def on_term(sig: int, _frame: Any) -> None:
        if os.getpid() != me:
            # A forked helper (pyroute2 forks to create namespaces) must die as it would have.
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
            return
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, on_term)
    started = time.time()
    out = _Printer(enabled=not as_json)
    lab_run = None
    error: str | None = None
    interrupted = False
    try:
        lab_run = RelayLab(nodes=nodes, progress=out.progress)
        out.header(nodes, scenario, lab_run)
        lab_run.run(scenario)
        for phase in lab_run.phases[len(out.shown):]:
            out.phase(phase)
    except (KeyboardInterrupt, _Terminated):
        interrupted = True
    except (LabError, LabTimeout, OSError) as exc:
        error = str(exc)
    finally:
        cleanup_started = time.time()
        if lab_run is not None:
            for phase in lab_run.phases[len(out.shown):]:
                out.phase(phase)
            lab_run.close()
        signal.signal(signal.SIGTERM, previous)
    total = time.time() - started
    cleanup = time.time() - cleanup_started
    if as_json:
        doc = {"scenario": scenario, "nodes": nodes, "ok": error is None and not interrupted,
               "error": error, "interrupted": interrupted, "total_s": round(total, 3), "cleanup_s": round(cleanup, 3),
               "phases": [p.as_dict() for p in (lab_run.phases if lab_run else [])]}
        click.echo(json.dumps(doc, indent=2))
    else:
        out.footer(total, cleanup, error, interrupted)
    if interrupted:
        sys.exit(130)
    if error:
        sys.exit(1)


class _Printer:
    """The human rendering; phases are printed as soon as they complete."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown: list[Any] = []
        self.lab: Any = None

    def echo(self, text: str = "") -> None:
        if self.enabled:
            click.echo(text)

    def header(self, nodes: int, scenario: str, lab_run: Any) -> None:
        from vipkeeper.lab.scenario import VIP

        self.lab = lab_run
        self.echo(f"vipkeeper lab: {nodes} relay nodes (haproxy + postfix) and a client on one bridge; "
                  f"VIP {VIP}; scenario: {scenario}")

    def progress(self, _step: str) -> None:
        # Called before each step: print the phases completed so far.
        if self.lab is None:
            return
        for phase in self.lab.phases[len(self.shown):]:
            self.phase(phase)

    def phase(self, phase: Any) -> None:
        self.shown.append(phase)
        if not self.enabled:
            return
        if phase.name == "setup":
            self.echo(f"== Setup ({phase.facts.get('namespaces')}, {_dur(phase)})")
            for node in phase.facts["nodes"]:
                pids = "  ".join(f"{k.replace('daemon', 'vipkeeper')} {v}" for k, v in node["pids"].items())
                self.echo(f"   {node['name']:<7} {node['address']:<12} prio {node['priority']:<4} pids: {pids}")
            self.echo(f"   {'client':<7} {phase.facts['client'].split('/')[0]}")
            return
        if phase.name == "election":
            self.echo("== Election")
            for name, state in phase.facts["states"].items():
                holds = "  holds the VIP" if name == phase.facts["master"] else ""
                self.echo(f"   {name:<7} {state or '?':<7}{holds}".rstrip())
            return
        self.echo(f"== {phase.title}")
        events = sorted(phase.events, key=lambda e: e.time)
        for ev in events:
            ms = round((ev.time - phase.t0) * 1000)
            self.echo(f"   {ms:>+7d} ms  {ev.node:<7} {ev.text}")
        if phase.summary:
            self.echo(f"   => {phase.summary}")

    def footer(self, total: float, cleanup: float, error: str | None, interrupted: bool) -> None:
        if interrupted:
            self.echo(f"== Interrupted: cleaned up in {cleanup:.1f} s")
        elif error:
            self.echo(f"== Failed: {error}")
            self.echo(f"   cleaned up in {cleanup:.1f} s")
        else:
            self.echo(f"== Cleaned up in {cleanup:.1f} s; total {total:.1f} s")


def _dur(phase: Any) -> str:
    if not phase.events:
        return "0.0 s"
    return f"{max(e.time for e in phase.events) - phase.t0:.1f} s"
