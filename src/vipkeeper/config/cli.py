"""`vipkeeper check`: keepalived -t for vipkeeper, with file:line diagnostics and a JSON model."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import sys
from typing import Any

import click

from . import load
from .model import Config, ConfigError

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


def summary(config: Config) -> str:
    counts = {s: sum(1 for d in config.diagnostics if d.severity == s)
              for s in ("error", "warning", "unsupported")}
    verdict = "usable" if config.usable else "NOT usable"
    return (f"{len(config.instances)} instances, {len(config.sync_groups)} sync groups, "
            f"{counts['error']} errors, {counts['warning']} warnings, "
            f"{counts['unsupported']} unsupported: {verdict}")


@click.command(name="check")
@click.option("-f", "--use-file", "path", default=DEFAULT_FILE, show_default=True,
              metavar="FILE", help="Configuration file to test.")
@click.option("-i", "--config-id", default=None, metavar="ID",
              help="Config id selecting '@ID' lines (default: first label of the host name).")
@click.option("--json", "as_json", is_flag=True, help="Print the normalised model and diagnostics as JSON.")
def check(path: str, config_id: str | None, as_json: bool) -> None:
    """Test a keepalived configuration as vipkeeper will read it.

    Prints every diagnostic as FILE:LINE: severity: message (severity is error, warning or
    unsupported), then a one-line summary.

    Exit status: 0 when the configuration is usable (clean, or with warnings / unsupported
    keywords only); 1 when it has errors or cannot be read. Note that keepalived -t exits 5 on
    any warning; vipkeeper check only fails on errors.
    """
    try:
        config = load(path, config_id=config_id)
    except ConfigError as exc:
        if as_json:
            click.echo(json.dumps({"usable": False, "error": {"file": exc.where.file,
                                   "line": exc.where.line, "message": exc.message}}, indent=2))
        else:
            click.echo(f"{exc.where}: error: {exc.message}", err=True)
        sys.exit(1)
    except Exception as exc:  # never a traceback: one line naming what went wrong
        click.echo(f"{path}: error: internal error while reading: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    if as_json:
        document = {"usable": config.usable, "config": to_jsonable(config)}
        click.echo(json.dumps(document, indent=2))
    else:
        for diagnostic in config.diagnostics:
            click.echo(str(diagnostic))
        click.echo(f"{path}: {summary(config)}")
    sys.exit(0 if config.usable else 1)
