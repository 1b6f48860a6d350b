"""`vipkeeper check`: keepalived -t for vipkeeper, with file:line diagnostics and a JSON model."""

from __future__ import annotations

import dataclasses
import ipaddress
import sys
from typing import Any

import click

from . import LocalHost, load
from .host_checks import SECURITY_VIOLATION, SECURITY_VIOLATION_STARTUP
from .model import Config, ConfigError
from .scripts import with_host_checks

DEFAULT_FILE = "/etc/keepalived/keepalived.conf"


def to_jsonable(value: Any) -> Any:
    """The model as plain JSON values: dataclasses to objects, addresses to strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address,
                          ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return str(value)
    return value


SEVERITIES = ("error", "warning", "unsupported", "ignored")

# Exit status, as keepalived 2.2.7's -t where it has one (measured: 0 clean, 5 a configuration
# problem it fixes up and runs with, 6 scripts without enable_script_security, which wins over 5).
EXIT_OK = 0
EXIT_ERRORS = 1  # unreadable, or errors: vipkeeper would not run this configuration
EXIT_WARNINGS = 5
EXIT_SECURITY = 6


def summary(config: Config) -> str:
    counts = {s: sum(1 for d in config.diagnostics if d.severity == s) for s in SEVERITIES}
    verdict = "usable" if config.usable else "NOT usable"
    return (f"{len(config.instances)} instances, {len(config.sync_groups)} sync groups, "
            f"{counts['error']} errors, {counts['warning']} warnings, "
            f"{counts['unsupported']} unsupported, {counts['ignored']} ignored: {verdict}")


def exit_status(config: Config) -> int:
    if not config.usable:
        return EXIT_ERRORS
    if any(d.severity == "warning" and d.message in (SECURITY_VIOLATION, SECURITY_VIOLATION_STARTUP) for d in config.diagnostics):
        return EXIT_SECURITY
    if any(d.severity == "warning" for d in config.diagnostics):
        return EXIT_WARNINGS
    return EXIT_OK


@click.command(name="check")
@click.option("-f", "--use-file", "path", default=DEFAULT_FILE, show_default=True,
              metavar="FILE", help="Configuration file to test.")
@click.option("-i", "--config-id", default=None, metavar="ID",
              help="Config id selecting '@ID' lines (default: first label of the host name).")
@click.option("--no-host", is_flag=True,
              help="Do not check the file against this host (interfaces, script files, script security).")
@click.option("--json", "as_json", is_flag=True, help="Print the normalised model and diagnostics as JSON.")
def check(path: str, config_id: str | None, no_host: bool, as_json: bool) -> None:
    """Test a keepalived configuration as vipkeeper will read it; never more lenient than keepalived -t.

    Prints every diagnostic as FILE:LINE: severity: message, then a one-line summary. Severities:
    error (vipkeeper will not run this configuration), warning (keepalived -t reports it and
    runs after fixing it up: a misspelt keyword, a value out of range, a missing interface or
    script), unsupported (keepalived would act on it, vipkeeper does not), ignored (keepalived
    would act on it, nothing vipkeeper does needs it). Unless --no-host, interfaces and script
    files are checked on this host (in the current network namespace), as keepalived -t does.

    A feature vipkeeper lacks whose absence changes what goes on the wire or who holds a VIP
    (use_vmac_addr, virtual_server, net_namespace, track_bfd, old_unicast_checksum, ...) is an error unless global_defs has
    `vipkeeper_run_without FEATURE ...`; auth_type AH is always an error.

    Exit status: 0 clean (unsupported/ignored keywords only); 1 errors, or the file cannot be
    read; 5 warnings (keepalived -t exits 5 too); 6 scripts configured without
    enable_script_security (keepalived -t exits 6; it wins over 5, as in keepalived).
    """
    host = None if no_host else LocalHost()
    try:
        config = load(path, config_id=config_id, host=host)
        if host is not None:
            config = with_host_checks(config)  # the script user keepalived would need (config/scripts.py)
    except ConfigError as exc:
        if as_json:
            import json

            click.echo(json.dumps({"usable": False, "error": {"file": exc.where.file,
                                   "line": exc.where.line, "message": exc.message}}, indent=2))
        else:
            click.echo(f"{exc.where}: error: {exc.message}", err=True)
        sys.exit(EXIT_ERRORS)
    except Exception as exc:  # never a traceback: one line naming what went wrong
        click.echo(f"{path}: error: internal error while reading: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    if as_json:
        document = {"usable": config.usable, "config": to_jsonable(config)}
        import json

        click.echo(json.dumps(document, indent=2))
    else:
        for diagnostic in config.diagnostics:
            click.echo(str(diagnostic))
        if config.witnesses:
            from vipkeeper.witness.explain import explain

            for line in explain(config):
                click.echo(line)
        click.echo(f"{path}: {summary(config)}")
    sys.exit(exit_status(config))
