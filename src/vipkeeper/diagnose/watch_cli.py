"""`vipkeeper watch IFACE`: who advertises which VRID on this LAN, who answers for each VIP, and
what is wrong (lan_watch.py holds the rules).

Exit status: 0 nothing found, 1 warnings only, 2 an error finding (two Masters, a VIP conflict,
a foreign cluster, a VIP-set mismatch), 3 the interface cannot be captured on.
With `--duration 0` it runs until interrupted, printing the findings as they change, and serves
Prometheus metrics with `--metrics ADDRESS:PORT`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Iterator

import click

from .lan_watch import LanWatch, WatchFinding, exit_status


def _text(report: dict, findings: list[WatchFinding]) -> str:
    lines = []
    for v in report["vrids"]:
        lines.append(f"VRID {v['vrid']}:")
        for a in v["advertisers"]:
            state = "advertising" if a["advertising"] else "silent"
            lines.append(f"  {a['source']:<26} {a['mac']}  prio {a['priority']:>3}  every {a['interval']:g} s  "
                         f"v{a['version']}  auth {a['auth']}  vips {','.join(a['vips']) or '-'}  "
                         f"({a['adverts']} adverts, {state})")
        for vip, macs in v["vips"].items():
            lines.append(f"  VIP {vip}: answered by {', '.join(macs) or 'nobody seen'}")
    if not report["vrids"]:
        lines.append("no VRRP advertisements seen")
    if findings:
        lines.append("Findings:")
        lines.extend("  " + f.as_text() for f in findings)
    else:
        lines.append("No findings.")
    return "\n".join(lines)


class WatchCollector:
    """Prometheus metrics over the core's report (for `--metrics`)."""

    def __init__(self, watch: LanWatch) -> None:
        self.watch = watch

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator:
        from vipkeeper.control.exposition import Family

        def gauge(name: str, doc: str, labels: list[str]) -> Family:
            return Family(name, doc, "gauge", labels)

        now = time.time()
        report = self.watch.report(now)
        adv = gauge("vipkeeper_watch_advertising", "1 while the source advertises the VRID",
                                labels=["vrid", "source", "mac"])
        prio = gauge("vipkeeper_watch_priority", "Priority in the source's last advert",
                                 labels=["vrid", "source"])
        masters = gauge("vipkeeper_watch_masters", "Sources advertising the VRID now", labels=["vrid"])
        macs = gauge("vipkeeper_watch_vip_macs", "MACs seen answering for the VIP", labels=["vrid", "vip"])
        found = gauge("vipkeeper_watch_findings", "Current findings by kind", labels=["kind"])
        for v in report["vrids"]:
            vrid = str(v["vrid"])
            masters.add_metric([vrid], sum(1 for a in v["advertisers"] if a["advertising"]))
            for a in v["advertisers"]:
                adv.add_metric([vrid, a["source"], a["mac"]], 1 if a["advertising"] else 0)
                prio.add_metric([vrid, a["source"]], a["priority"])
            for vip, seen in v["vips"].items():
                macs.add_metric([vrid, vip], len(seen))
        kinds: dict[str, int] = {}
        for f in report["findings"]:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        from .lan_watch import SEVERITY

        for kind in SEVERITY:
            found.add_metric([kind], kinds.get(kind, 0))
        yield from (adv, prio, masters, macs, found)


async def _run(ifname: str, duration: float, probe: float, as_json: bool, metrics: str | None,
               watch: LanWatch) -> int:
    from .lan_capture import LanCapture

    try:
        capture = LanCapture(ifname, watch, probe=probe > 0)
    except OSError as exc:
        click.echo(f"{ifname}: cannot capture: {exc.strerror or exc}", err=True)
        return 3
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = None
    if metrics:
        from vipkeeper.control.exposition import Registry
        from vipkeeper.control.metrics import MetricsServer

        server = MetricsServer(metrics, dict, process_metrics=False)
        server.registry = Registry([WatchCollector(watch)])
        await server.start()
    loop.add_reader(capture.fileno(), capture.poll)
    end = loop.time() + duration if duration > 0 else None
    last_text: list[str] = []
    try:
        while not stop.is_set():
            capture.send_probes(time.time())
            timeout = probe if probe > 0 else 1.0
            if end is not None:
                timeout = min(timeout, end - loop.time())
                if timeout <= 0:
                    break
            try:
                await asyncio.wait_for(stop.wait(), timeout)
            except TimeoutError:
                pass
            if end is None:  # continuous: print the findings when they change
                now = time.time()
                texts = [f.as_text() for f in watch.findings(now)]
                if texts != last_text:
                    stamp = time.strftime("%H:%M:%S", time.localtime(now))
                    if as_json:
                        click.echo(json.dumps({"time": now, "findings": [f.as_dict() for f in watch.findings(now)]}))
                    else:
                        click.echo(f"{stamp} " + ("; ".join(texts) if texts else "no findings"))
                    last_text = texts
        capture.poll()
    finally:
        loop.remove_reader(capture.fileno())
        capture.close()
        if server is not None:
            await server.close()
    now = time.time()
    findings = watch.findings(now)
    report = watch.report(now)
    status = exit_status(findings)
    if as_json:
        report["interface"] = ifname
        report["exit"] = status
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(_text(report, findings))
    return status


@click.command("watch")
@click.argument("interface")
@click.option("--duration", type=float, default=10.0, show_default=True,
              help="Seconds to listen; 0 runs until interrupted.")
@click.option("--probe-interval", type=float, default=1.0, show_default=True,
              help="Seconds between ARP/ND probes of every advertised VIP; 0 listens only.")
@click.option("--overlap", type=float, default=2.0, show_default=True,
              help="Seconds two Masters of one VRID may overlap (a preemption) before it is split brain.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--metrics", default=None, metavar="ADDRESS:PORT",
              help="Serve Prometheus metrics while running (with --duration 0).")
def watch(interface: str, duration: float, probe_interval: float, overlap: float, as_json: bool,
          metrics: str | None) -> None:
    """Listen to VRRP, ARP and ND on INTERFACE and report, per VRID, who advertises and who answers
    for each VIP, and the findings: two Masters, a VIP answered by two MACs, mismatched intervals
    or VIP sets, a foreign cluster on the same VRID, adverts with a bad TTL or checksum.

    Exit status: 0 nothing found; 1 warnings only (interval mismatch, bad TTL or checksum); 2 an
    error finding (two Masters, a VIP conflict, a foreign cluster, a VIP-set, version or auth
    mismatch); 3 the interface cannot be captured on."""
    if metrics:
        from vipkeeper.control.metrics import ListenError, parse_listen

        try:
            parse_listen(metrics)
        except ListenError as exc:
            raise click.UsageError(str(exc)) from None
    lan = LanWatch(overlap=overlap, claim_window=max(10.0, 3 * probe_interval))
    sys.exit(asyncio.run(_run(interface, duration, probe_interval, as_json, metrics, lan)))
