"""What `vipkeeper check` does, without click: keepalived -t for vipkeeper, with file:line
diagnostics, a JSON model and keepalived -t's exit status.

`check_file` is the whole command; config/cli.py is its click definition (options, help, man page)
and vipkeeper/cli.py calls `check_file` directly when the command line is a plain one, so a
configuration test does not pay for importing click (start-up, issue 18)."""

from __future__ import annotations

import ipaddress
import sys

from vipkeeper import records

from . import LocalHost, load
from .host_checks import SECURITY_VIOLATION, SECURITY_VIOLATION_STARTUP
from .model import Config, ConfigError
from .scripts import with_host_checks

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FILE = "/etc/keepalived/keepalived.conf"


def to_jsonable(value: Any) -> Any:
    """The model as plain JSON values: records to objects, addresses and networks (routes, rules) to strings."""
    if records.is_record(value):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in records.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Interface,
                          ipaddress.IPv6Interface, ipaddress.IPv4Network, ipaddress.IPv6Network)):
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


def check_file(path: str = DEFAULT_FILE, config_id: str | None = None, no_host: bool = False, as_json: bool = False) -> int:
    """`vipkeeper check`: print the diagnostics (or the JSON model) and return the exit status."""
    host = None if no_host else LocalHost()
    try:
        config = load(path, config_id=config_id, host=host)
        if host is not None:
            config = with_host_checks(config)  # the script user keepalived would need (config/scripts.py)
    except ConfigError as exc:
        if as_json:
            import json

            print(json.dumps({"usable": False, "error": {"file": exc.where.file,
                              "line": exc.where.line, "message": exc.message}}, indent=2))
        else:
            print(f"{exc.where}: error: {exc.message}", file=sys.stderr)
        return EXIT_ERRORS
    except Exception as exc:  # never a traceback: one line naming what went wrong
        print(f"{path}: error: internal error while reading: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    if as_json:
        document = {"usable": config.usable, "config": to_jsonable(config)}
        import json

        print(json.dumps(document, indent=2))
    else:
        for diagnostic in config.diagnostics:
            print(str(diagnostic))
        for instance in config.instances:  # use_vmac_addr: the VMAC each such VIP lands on
            for vip in instance.virtual_ipaddress + instance.virtual_ipaddress_excluded:
                if vip.vmac:
                    print(f"{vip.where}: ({instance.name}) {vip.address} on VMAC {vip.vmac} "
                          f"(on {vip.dev or instance.interface})")
        if config.witnesses:
            from vipkeeper.witness.explain import explain

            for line in explain(config):
                print(line)
        print(f"{path}: {summary(config)}")
    return exit_status(config)
