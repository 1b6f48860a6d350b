"""What `keepalived -t` checks against the host, for `vipkeeper check`: interfaces and scripts.

Rules
- keepalived 2.2.7's config test looks beyond the file: an interface that does not exist
  (an instance's, a tracked one, a VIP's `dev`), a track script whose file is missing, and
  scripts configured without `enable_script_security` each make it exit non-zero. The same
  facts are reported here as warnings at the line that names them, worded as keepalived words
  them where an admin would grep for it.
- "Scripts are configured" means, as in keepalived, scripts whose file is found: a missing notify
  script is disabled, not run, so it does not count toward the SECURITY VIOLATION.
- The parser stays pure: these checks take the parsed model and a `Host` (what exists here),
  and return diagnostics. `LocalHost` asks this machine (the current network namespace).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from vipkeeper.records import record

from .model import Config, Diagnostic, Instance, ScriptCommand, Where

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)

SECURITY_VIOLATION = "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
# keepalived 2.2.7 -t with a startup/shutdown script and no enable_script_security (measured: exit 6)
SECURITY_VIOLATION_STARTUP = ("SECURITY VIOLATION - start/shutdown scripts are being executed but script_security "
                              "not enabled.")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


if TYPE_CHECKING:
    from typing import Protocol

    class Host(Protocol):
        def interface_exists(self, name: str) -> bool: ...

        def script_file(self, command: str) -> tuple[str, bool] | None:
            """The file a script's first word resolves to and whether it is executable; None if none."""
else:
    class Host:
        """What the checks ask of a host (a protocol for the type checker): `interface_exists(name)`
        and `script_file(command)`, as LocalHost answers them."""


@record(frozen=True)
class LocalHost:
    """This machine as the daemon would see it started here (same network namespace, PATH)."""

    path: str = os.environ.get("PATH") or DEFAULT_PATH

    def interface_exists(self, name: str) -> bool:
        # The C module, not socket.py: socket.py turns its constants into enums at import, a good
        # share of what `vipkeeper check` costs, for one lookup that needs none of it.
        import _socket

        try:
            _socket.if_nametoindex(name)
        except OSError:
            return False
        return True

    def script_file(self, command: str) -> tuple[str, bool] | None:
        if "/" not in command:
            found = _which(command, self.path)
            if found is None:
                return None
            command = found
        try:
            mode = os.stat(command).st_mode
        except OSError:
            return None
        if not stat.S_ISREG(mode):
            return None
        return command, bool(mode & 0o111)


def _which(command: str, path: str) -> str | None:
    """The first PATH entry holding `command` (not a directory), as `shutil.which(command,
    mode=os.F_OK, path=path)` finds it; shutil itself would import bz2 and lzma for `check`."""
    seen: set[str] = set()
    for directory in path.split(os.pathsep):
        if directory in seen:
            continue
        seen.add(directory)
        name = os.path.join(directory, command)
        if os.path.exists(name) and not os.path.isdir(name):
            return name
    return None


def host_diagnostics(config: Config, host: Host, interface_lines: dict[str, Where]) -> list[Diagnostic]:
    """Warnings for what the host lacks. `interface_lines`: instance name -> its `interface` line."""
    found: list[Diagnostic] = []

    def warn(where: Where, message: str) -> None:
        found.append(Diagnostic(where, "warning", message))

    # With `dynamic_interfaces` keepalived 2.2.7's -t says nothing of missing interfaces (measured:
    # instance interface, track_interface and VIP dev, exit 0): they may appear later.
    if not config.global_defs.dynamic_interfaces:
        for instance in config.instances:
            _instance_interfaces(instance, host, interface_lines.get(instance.name, instance.where), warn)
        for group in config.sync_groups:
            for ref in group.track_interface:
                if not host.interface_exists(ref.name):
                    warn(ref.where, f"({group.name}) tracked interface {ref.name} doesn't exist")
        for garp_group in config.garp_groups:  # keepalived's wording
            for name in garp_group.interfaces:
                if not host.interface_exists(name):
                    warn(garp_group.where, f"WARNING - interface {name} specified for garp_group doesn't exist")

    runnable: list[Where] = []
    for script in config.scripts:
        command = script.argv[0] if script.argv else script.script
        if command.startswith("<"):  # "</path": a file test the shell makes, nothing executed
            runnable.append(script.where)
            continue
        resolved = host.script_file(command)
        if resolved is None:
            warn(script.where, f"Disabling track script {script.name} since not found/accessible: "
                               f"'{command}' does not exist")
            continue
        runnable.append(script.where)
        if not resolved[1]:
            warn(script.where, f"vrrp_script {script.name}: '{resolved[0]}' is not executable (keepalived "
                               "runs it through /bin/sh, which cannot run it, and counts that as success)")
    for label, command in _notify_commands(config):
        first = command.argv[0] if command.argv else command.command
        resolved = host.script_file(first)
        if resolved is None:
            warn(command.where, f"{label} script '{first}' does not exist - nothing would run")
            continue
        runnable.append(command.where)
        if not resolved[1]:
            warn(command.where, f"{label} script '{resolved[0]}' is not executable")
    if runnable and not config.global_defs.enable_script_security:
        warn(min(runnable), SECURITY_VIOLATION)
    lifecycle = []
    for name in ("startup_script", "shutdown_script"):
        command = getattr(config.global_defs, name)
        if command is None:
            continue
        first = command.argv[0] if command.argv else command.command
        resolved = host.script_file(first)
        if resolved is None:  # keepalived -t says nothing and exits 0 (measured); vipkeeper says why
            warn(command.where, f"{name} '{first}' does not exist - nothing would run")
            continue
        lifecycle.append(command.where)
        if not resolved[1]:
            warn(command.where, f"{name} '{resolved[0]}' is not executable")
    if lifecycle and not config.global_defs.enable_script_security:
        warn(min(lifecycle), SECURITY_VIOLATION_STARTUP)
    return found


def _instance_interfaces(instance: Instance, host: Host, line: Where, warn) -> None:  # type: ignore[no-untyped-def]
    if instance.interface and not host.interface_exists(instance.interface):
        warn(line, f"WARNING - interface {instance.interface} for vrrp_instance {instance.name} doesn't exist")
    for ref in instance.track_interface:
        if not host.interface_exists(ref.name):
            warn(ref.where, f"({instance.name}) tracked interface {ref.name} doesn't exist")
    for vip in instance.virtual_ipaddress + instance.virtual_ipaddress_excluded:
        if vip.dev and not host.interface_exists(vip.dev):
            warn(vip.where, f"WARNING - interface {vip.dev} for ip address {vip.address} doesn't exist")


def _notify_commands(config: Config) -> Iterator[tuple[str, ScriptCommand]]:
    owners = [(f"({i.name})", i.notify) for i in config.instances]
    owners += [(f"(sync group {g.name})", g.notify) for g in config.sync_groups]
    for owner, notify in owners:
        for kind in ("master", "backup", "fault", "stop", "deleted", "master_rx_lower_pri", "generic"):
            command = getattr(notify, kind)
            if isinstance(command, ScriptCommand):
                name = "notify" if kind == "generic" else f"notify_{kind}"
                yield f"{owner} {name}", command
    g = config.global_defs
    for name in ("notify_fifo_script", "vrrp_notify_fifo_script"):
        command = getattr(g, name)
        if command is not None:
            yield name, command
