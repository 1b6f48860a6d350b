"""`vipkeeper lint` and `vipkeeper doctor`.

Exit status (both commands; `findings.exit_status`):
  lint:   0 clean (or only info/warnings without --strict), 1 warnings with --strict,
          2 any error, including a file that cannot be read as a configuration.
  doctor: 0 nothing found, 1 problems found (any error or warning finding; info alone is 0),
          2 a log file could not be read.
  doctor --host: 0 nothing found (info alone is 0), 1 warnings, 2 errors, 3 the config cannot be read.
"""

from __future__ import annotations

import sys

import click

from .findings import Finding, summary, to_json


def _print_findings(findings: list[Finding]) -> None:
    for f in findings:
        click.echo(f.as_text())


@click.command("lint")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--root", "root", type=click.Path(file_okay=False, exists=True),
              help="Resolve absolute script paths under DIR (a copy of the server's filesystem).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings (errors always exit 2).")
@click.option("--rules", "show_rules", is_flag=True, help="Print the rule table and exit.")
@click.option("-i", "--config-id", default=None, help="keepalived's -i: select @ID lines.")
def lint(files: tuple[str, ...], root: str | None, fmt: str, strict: bool, show_rules: bool,
         config_id: str | None) -> None:
    """Find split-brain anti-patterns in FILE(s). One file is one node; several files are the
    nodes of one cluster and are checked against each other."""
    from . import lint_rules
    from .findings import exit_status
    from .lint import lint_files

    if show_rules:
        if fmt == "json":
            click.echo(to_json({"rules": [{"id": r.id, "severity": r.severity, "title": r.title,
                                           "scope": r.scope} for r in lint_rules.RULES]}))
        else:
            click.echo(f"{'ID':<7}{'SEVERITY':<9}{'SCOPE':<8}TITLE")
            for r in lint_rules.RULES:
                click.echo(f"{r.id:<7}{r.severity:<9}{r.scope:<8}{r.title}")
        return
    if not files:
        raise click.UsageError("give one config file per node (or --rules)")
    result = lint_files(list(files), root=root, config_id=config_id)
    status = exit_status(result.findings, strict)
    if fmt == "json":
        click.echo(to_json({"files": list(files), "findings": [f.as_dict() for f in result.findings],
                            "summary": summary(result.findings), "exit": status}))
    else:
        _print_findings(result.findings)
        click.echo(f"{len(files)} file(s): {summary(result.findings)}")
    sys.exit(status)


@click.command("doctor")
@click.argument("logs", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--year", type=int, default=None, help="Year for syslog lines without one (default: this year).")
@click.option("--overlap", type=float, default=2.0, show_default=True,
              help="Seconds two MASTERs may overlap (a normal preemption) before it counts as split brain.")
@click.option("--flaps", type=int, default=4, show_default=True,
              help="State changes of one instance within a minute that count as flapping.")
@click.option("--no-timeline", is_flag=True, help="Print only the findings.")
@click.option("--host", "host", is_flag=True,
              help="Preflight this machine against -f CONFIG: firewall, interfaces, sysctls, services, privileges.")
@click.option("-f", "--use-file", "config_file", type=click.Path(dir_okay=False), default=None,
              help="With --host: the keepalived.conf to check the host against.")
@click.option("--haproxy-config", multiple=True,
              help="With --host: haproxy config file(s) (default /etc/haproxy/haproxy.cfg).")
@click.option("--postfix-config", multiple=True, help="With --host: postfix main.cf (default /etc/postfix/main.cf).")
@click.option("--nginx-config", multiple=True, help="With --host: nginx config file(s) (default /etc/nginx/...).")
@click.option("--pid", type=int, default=None, help="With --host: judge this running daemon's capabilities.")
def doctor(logs: tuple[str, ...], fmt: str, year: int | None, overlap: float, flaps: int,
           no_timeline: bool, host: bool, config_file: str | None, haproxy_config: tuple[str, ...],
           postfix_config: tuple[str, ...], nginx_config: tuple[str, ...], pid: int | None) -> None:
    """Explain keepalived/vipkeeper logs (syslog, `journalctl -o short-iso`, `journalctl -o json`,
    `keepalived -l` output) of one or several nodes: split brain, flapping, script trouble, the
    pidof race, process connector errors. Reads stdin for `-` or no argument.

    With --host -f CONFIG: check this machine (its network namespace) against the configuration
    instead: whether nftables lets VRRP in and out, interfaces, rp_filter/arp_ignore/arp_announce,
    services binding a VIP without ip_nonlocal_bind, tracking mode, /proc hidepid, capabilities."""
    if host:
        _doctor_host(config_file or "/etc/keepalived/keepalived.conf", fmt,
                     {"haproxy": list(haproxy_config), "postfix": list(postfix_config), "nginx": list(nginx_config)},
                     pid)
        return
    from .doctor import Thresholds, diagnose, timeline_json, timeline_text
    from .log_reader import read_file

    lines = []
    for path in logs or ("-",):
        try:
            lines.extend(read_file(path, year))
        except OSError as exc:
            click.echo(f"{path}: {exc.strerror or exc}", err=True)
            sys.exit(2)
    report = diagnose(lines, Thresholds(overlap=overlap, flaps_per_minute=flaps, script_flaps_per_minute=flaps))
    problems = any(f.severity in ("error", "warning") for f in report.findings)
    if fmt == "json":
        click.echo(to_json({"nodes": list(report.nodes), "findings": [f.as_dict() for f in report.findings],
                            "timeline": timeline_json(report.timeline), "summary": summary(report.findings),
                            "exit": 1 if problems else 0}))
    else:
        if not no_timeline and report.timeline:
            click.echo("Timeline:")
            for row in timeline_text(report.timeline):
                click.echo("  " + row)
            click.echo("")
        if report.findings:
            click.echo("Findings:")
            _print_findings(report.findings)
        click.echo(f"{len(lines)} line(s) from {len(report.nodes)} node(s) ({', '.join(report.nodes) or '-'}): "
                   f"{summary(report.findings)}")
    sys.exit(1 if problems else 0)


def _doctor_host(config_file: str, fmt: str, paths: dict[str, list[str]], pid: int | None) -> None:
    from vipkeeper.config import load
    from vipkeeper.config.model import ConfigError

    from .host_facts import DEFAULT_SERVICE_CONFIGS, gather
    from .host_rules import check_host

    try:
        config = load(config_file)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(3)
    except OSError as exc:
        click.echo(f"{config_file}: {exc.strerror or exc}", err=True)
        sys.exit(3)
    service_paths = {k: (v or DEFAULT_SERVICE_CONFIGS[k]) for k, v in paths.items()}
    facts = gather(config, service_paths, pid)
    findings = sorted(check_host(config, facts), key=lambda f: (f.rule, str(f.where)))
    severities = {f.severity for f in findings}
    status = 2 if "error" in severities else 1 if "warning" in severities else 0
    notes = []
    if facts.nft is None:
        notes.append(f"nftables ruleset not evaluated: {facts.nft_error}")
    if fmt == "json":
        click.echo(to_json({"config": config_file, "findings": [f.as_dict() for f in findings], "notes": notes,
                            "summary": summary(findings), "exit": status}))
    else:
        _print_findings(findings)
        for note in notes:
            click.echo(f"note: {note}")
        click.echo(f"host preflight against {config_file}: {summary(findings)}")
    sys.exit(status)
