"""`startup_script` / `shutdown_script`: run once before VRRP starts and once after it stopped.

Rules (keepalived 2.2.7 core/main.c run_startup_script, startup_shutdown_script_completed)
- The start-up script runs before any instance starts, and VRRP starts when it has ended or its
  timeout (`startup_script_timeout`, 1..1000 s, default 10) expired; its exit status is only
  logged ("startup script script failed, status N", keepalived's doubled word kept).
- The shutdown script runs after every instance has stopped (priority 0 sent, VIPs released), and
  the daemon exits when it has ended or its timeout (`shutdown_script_timeout`) expired.
- On timeout the script's process group gets SIGTERM, then SIGKILL 2 s later, as keepalived.
- It runs as its own `user [group]`, else `script_user`, else keepalived_script, else root
  (script_launch.py), vetted as every other script is (script_launch.vet_command): a file that
  is missing or not executable for its user is not run, and with enable_script_security
  neither is one a non-root user could change ("Unsafe permissions found for script ... -
  disabling"); config/scripts.py counts them for the missing-default-user error.
- Never blocking the loop: the child is awaited with asyncio; the daemon's loop is already
  running (signals, control socket) while a start-up script runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

from vipkeeper.config.model import GlobalDefs, ScriptCommand
from vipkeeper.script_launch import (
    command_argv,
    launch,
    resolve_identity,
    vet_command,
)

log = logging.getLogger("vipkeeper.daemon")

KILL_AFTER = 2.0  # s between SIGTERM and SIGKILL (keepalived's handle_child_timeout)


async def run_lifecycle_script(kind: str, g: GlobalDefs) -> int | None:
    """Run `startup`/`shutdown` script of `g` to its end or its timeout; the exit status, or None
    when none is configured, it could not start, or it was killed."""
    command: ScriptCommand | None = getattr(g, f"{kind}_script")
    timeout: float = getattr(g, f"{kind}_script_timeout")
    if command is None:
        return None
    try:
        identity = resolve_identity(command.user, command.group, g.script_user, g.script_group)
    except LookupError as exc:
        log.error("%s script %s: %s - not run", kind, command.command, exc)
        return None
    # the same checks as every other script (script_launch.vet_command: found, executable for its
    # user, and under enable_script_security not changeable by anyone but root)
    verdict = vet_command(command.argv, command.command, identity, g.enable_script_security)
    if not verdict.ok:
        log.warning("%s - disabling%s", verdict.refused, f" ({'; '.join(verdict.unsafe)})" if verdict.unsafe else "")
        return None
    if verdict.unsafe:
        log.warning("Unsafe permissions found for script '%s' (%s)", command.command, "; ".join(verdict.unsafe))
    if not g.enable_script_security:
        log.warning("SECURITY VIOLATION - start/shutdown scripts are being executed but script_security "
                    "not enabled.")
    argv = command_argv(verdict)
    log.info("Running %s script %s", kind, command.command)
    started = time.monotonic()
    try:
        argv, options = launch(argv, identity)
        process = await asyncio.create_subprocess_exec(*argv, **options)
    except OSError as exc:
        log.info("Call of %s script %s failed: %s", kind, command.command, exc.strerror or exc)
        return None
    try:
        code = await asyncio.wait_for(asyncio.shield(process.wait()), timeout)
    except TimeoutError:
        log.info("%s script timed out", kind)
        _killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), KILL_AFTER)
        except TimeoutError:
            pass
        _killpg(process.pid, signal.SIGKILL)  # the script's children too, as keepalived
        await process.wait()
        return None
    if code:
        log.info("%s script script failed, status %d", kind, code)
    else:
        log.info("%s script succeeded (%.3fs)", kind, time.monotonic() - started)
    return code


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
