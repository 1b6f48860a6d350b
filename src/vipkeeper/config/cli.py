"""`vipkeeper check`: the click definition of the command (options, help text, man page);
what it does is config/check.py."""

from __future__ import annotations

import sys

import click

from .check import (  # noqa: F401  (re-exported: the command's constants and helpers)
    DEFAULT_FILE,
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_SECURITY,
    EXIT_WARNINGS,
    SEVERITIES,
    check_file,
    exit_status,
    summary,
    to_jsonable,
)


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
    (virtual_server, net_namespace, track_bfd, old_unicast_checksum, ...) is an error unless global_defs has
    `vipkeeper_run_without FEATURE ...`; auth_type AH is always an error.

    Exit status: 0 clean (unsupported/ignored keywords only); 1 errors, or the file cannot be
    read; 5 warnings (keepalived -t exits 5 too); 6 scripts configured without
    enable_script_security (keepalived -t exits 6; it wins over 5, as in keepalived).
    """
    sys.exit(check_file(path, config_id, no_host, as_json))
