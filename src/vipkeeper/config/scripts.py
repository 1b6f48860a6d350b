"""Every script a configuration can make the daemon start, and the host check that goes with it.

Rules
- The scripts: each referenced or not `vrrp_script`, every instance's and sync group's
  notify scripts (notify, notify_master/backup/fault/stop/deleted/master_rx_lower_pri), and
  the fifo scripts (`notify_fifo_script`, `vrrp_notify_fifo_script`), and `startup_script` /
  `shutdown_script` (run by daemon/lifecycle_scripts.py). Nothing else is started.
- Under `enable_script_security`, a script without a user of its own runs as `script_user`,
  else as the user `keepalived_script`; if neither exists that is a configuration error at the
  first such script (keepalived 2.2.7: `(FILE: Line N) Unable to set default user
  keepalived_script for script`, exit 5 from -t), never a silent fall back to root.
This module reads the host's user database (NSS), so it is called by `check` and when the
daemon reads its configuration - never on the event loop at a failover.
"""

from __future__ import annotations

from collections.abc import Iterator

from vipkeeper import records
from vipkeeper.config.model import Config, Diagnostic, Notifies, ScriptCommand, Where
from vipkeeper.script_launch import default_user_problem


def _notifies(notifies: Notifies) -> Iterator[ScriptCommand]:
    for command in (notifies.master, notifies.backup, notifies.fault, notifies.stop, notifies.deleted,
                    notifies.master_rx_lower_pri, notifies.generic):
        if command is not None:
            yield command


def notify_commands(config: Config) -> list[ScriptCommand]:
    """Every notify and fifo script, in file order of their owners."""
    out: list[ScriptCommand] = []
    for instance in config.instances:
        out.extend(_notifies(instance.notify))
    for group in config.sync_groups:
        out.extend(_notifies(group.notify))
    g = config.global_defs
    out.extend(c for c in (g.notify_fifo_script, g.vrrp_notify_fifo_script) if c is not None)
    return out


def script_user_errors(config: Config) -> list[Diagnostic]:
    """The missing-default-user error, at the first script that would need it."""
    g = config.global_defs
    needing: list[tuple[str | None, Where]] = [(c.user, c.where) for c in notify_commands(config)]
    needing += [(s.user, s.where) for s in config.scripts]
    needing += [(c.user, c.where) for c in (g.startup_script, g.shutdown_script) if c is not None]
    first = next((where for user, where in needing if user is None), None)
    if first is None:
        return []
    problem = default_user_problem(g.script_user, g.enable_script_security)
    return [Diagnostic(first, "error", problem)] if problem else []


def with_host_checks(config: Config) -> Config:
    """`config` with the host-dependent errors above added to its diagnostics."""
    extra = tuple(script_user_errors(config))
    return records.replace(config, diagnostics=config.diagnostics + extra) if extra else config
