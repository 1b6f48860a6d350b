"""Starting the daemon, without click: what `vipkeeper run` and keepalived's command line both end in.

daemon/cli.py is the click definition of `vipkeeper run` (options, help, man page);
vipkeeper/cli.py calls `run_daemon` here directly for a plain command line, so the daemon's
start-up does not pay for importing click (issue 18). A start-up failure is `StartFailure`, one
line, which each command line reports as its own error (exit status 1).

Order matters and is the point of this module:
1. read and validate the configuration before anything else, so a broken file fails on the
   terminal with FILE:LINE, not in a log after detaching;
2. open the process connector while still in the initial network namespace (it answers only
   there), then enter `--netns` if asked; sockets made afterwards live in that namespace;
3. detach (unless -n), write the pid file, and only then start the event loop.
Between 1 and 2 the VRRP sockets are opened (in `--netns`, from a short-lived thread there), so
the instances listen from then on and their Startup is dated from it (daemon/early_listen.py);
the event loop and the runtime are imported only after that.
"""

from __future__ import annotations

import logging
import os
import sys

from vipkeeper.daemon import logsetup
from vipkeeper.daemon.process import PidFile, PidFileError, detach, sd_notify, set_umask

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
log = logging.getLogger("vipkeeper.daemon")


class StartFailure(Exception):
    """The daemon cannot start: one line for the terminal (click prints it as `Error: ...`)."""


def run_daemon(config_file: str = DEFAULT_CONFIG, dont_fork: bool = False, log_console: bool = False,
               log_detail: bool = False, log_facility: str = "daemon", log_json: bool = False,
               no_syslog: bool = False, pid_file: str = "/run/vipkeeper.pid", config_id: str | None = None,
               netns: str | None = None, control_socket: str | None = None, metrics_listen: str | None = None,
               data_file: str = "/tmp/keepalived.data", stats_file: str = "/tmp/keepalived.stats",
               json_file: str = "/tmp/keepalived.json", snapshot_file: str = "/run/vipkeeper/vipkeeper.json",
               dump_dir: str | None = None, log_ident: str | None = None, process_rescan_interval: float = 0.2,
               vip_conflict_interval: float = 10.0, vrrp: bool = False) -> None:
    """`vipkeeper run` with its parameters (defaults as the click command's: tests/unit/test_cli_dispatch.py)."""
    from vipkeeper.daemon.run_options import RunOptions

    data_file, stats_file, json_file = in_dump_dir(dump_dir, data_file, stats_file, json_file)
    facility = logsetup.parse_facility(log_facility)
    logsetup.configure(console=log_console or (dont_fork and not os.path.exists("/dev/log")),
                       json_lines=log_json, syslog=not no_syslog, detail=log_detail,
                       facility=facility or "daemon", ident=log_ident or logsetup.IDENT)
    if facility is None:
        log.error("Invalid log facility '%s'", log_facility)
    options = RunOptions(config_file=config_file, config_id=config_id, netns=netns, pid_file=pid_file,
                         control_socket=control_socket, metrics_listen=metrics_listen,
                         data_file=data_file, stats_file=stats_file, json_file=json_file,
                         snapshot_file=snapshot_file, process_rescan_interval=process_rescan_interval,
                         vip_conflict_interval=vip_conflict_interval)
    launch(options, dont_fork=dont_fork)


def in_dump_dir(dump_dir: str | None, *paths: str) -> tuple[str, ...]:
    """The dump paths moved into `dump_dir` (same base names) when one is given."""
    if not dump_dir:
        return paths
    return tuple(os.path.join(dump_dir, os.path.basename(p)) for p in paths)


def launch(options, *, dont_fork: bool, extra_pid_files: tuple[str, ...] = (),  # type: ignore[no-untyped-def]
           dump_conf: bool = False) -> None:
    """Start the daemon (both command lines end here): config, netns, detach, pid files, loop."""
    if os.geteuid() != 0:
        raise StartFailure("vipkeeper run needs root (raw sockets, addresses, process events)")

    from vipkeeper.daemon.config_file import StartupError, read_config
    from vipkeeper.daemon.signal_table import early_signal_handlers

    early_signal_handlers()
    if options.metrics_listen is not None:
        from vipkeeper.config.listen import ListenError, parse_listen

        try:
            parse_listen(options.metrics_listen)
        except ListenError as exc:
            raise StartFailure(f"--metrics {exc}") from None
    try:
        config = read_config(options.config_file, options.config_id)
    except StartupError as exc:
        raise StartFailure(str(exc)) from None
    from vipkeeper.config import release_parser

    release_parser()  # before asyncio and the runtime: they take the memory it frees (config/__init__.py)
    early = _listen_early(config, options.netns)
    from vipkeeper.asyncio_tls import import_asyncio

    import_asyncio()  # without OpenSSL until a witness needs it (asyncio_tls.py); before the runtime's modules
    from vipkeeper.daemon.runtime import Runtime
    from vipkeeper.daemon.tracking import TrackingHub

    runtime = Runtime(options)
    runtime.early = early
    hub = TrackingHub(config, rescan_interval=options.process_rescan_interval)
    hub.prepare()  # the process connector, in the initial network namespace
    if options.netns:
        from vipkeeper.net import netns as netns_mod

        try:
            netns_mod.enter(options.netns)
        except OSError as exc:
            raise StartFailure(f"cannot enter network namespace {options.netns}: {exc}") from None
    if not dont_fork:
        detach()
    # No faulthandler: it gives the process an alternate signal stack, on which CPython then runs
    # every signal handler (SA_ONSTACK); a burst of different signals nests there and overflowed
    # it (SIGSEGV, VIPs left behind: tests/net/test_daemon_signals.py caught it).
    set_umask()
    # each path once: a second lock on the same file from this process would be refused
    pids = [PidFile(path) for path in dict.fromkeys((options.pid_file, *extra_pid_files)) if path]
    acquired: list[PidFile] = []
    try:
        for pid in pids:
            pid.acquire()
            acquired.append(pid)
    except (PidFileError, OSError) as exc:
        for pid in acquired:
            pid.release()
        raise StartFailure(str(exc)) from None
    import asyncio

    try:
        code = asyncio.run(_main(runtime, config, hub, dump_conf))
    finally:
        for pid in acquired:
            pid.release()
    sys.exit(code)


def _listen_early(config, netns: str | None) -> dict:  # type: ignore[no-untyped-def]
    """The VRRP sockets, listening from now, in the daemon's network namespace (early_listen.py);
    none when that fails (the runtime then opens them, or says why it cannot)."""
    from vipkeeper.daemon.early_listen import open_early

    if not netns:
        return open_early(config)
    from vipkeeper.net import netns as netns_mod

    try:
        return netns_mod.call_in(netns, lambda: open_early(config))
    except OSError:
        return {}


async def _main(runtime, config, hub, dump_conf: bool = False) -> int:  # type: ignore[no-untyped-def]
    import asyncio

    from vipkeeper.control.server import DEFAULT_PATH, ControlServer, ControlSocketError
    from vipkeeper.daemon.runtime import (
        StartupError,
        enable_reload,
        install_signal_handlers,
    )

    # One pidfd per child instead of a thread per child (the 3.11 default): scripts run every
    # second for every vrrp_script, so this is the daemon's hottest use of subprocesses.
    loop = asyncio.get_running_loop()
    if hasattr(asyncio, "PidfdChildWatcher"):
        try:
            watcher = asyncio.PidfdChildWatcher()
            watcher.attach_loop(loop)
            asyncio.set_child_watcher(watcher)
        except (OSError, RuntimeError) as exc:  # pragma: no cover - kernels without pidfd
            log.debug("pidfd child watcher unavailable: %s", exc)
    log.info("Starting vipkeeper %s on %s%s", _version(), runtime.options.config_file,
             f" in network namespace {runtime.options.netns}" if runtime.options.netns else "")
    install_signal_handlers(runtime)
    # The metrics listener first: an address it cannot listen on is a start-up failure (one
    # line, non-zero exit), found before any VIP is touched.
    metrics = None
    listen = runtime.options.metrics_listen or config.global_defs.metrics_listen
    if listen:
        from vipkeeper.control.metrics import MetricsServer

        try:
            metrics = MetricsServer(listen, runtime.snapshot)
            await metrics.start()
        except (OSError, ValueError) as exc:
            log.error("metrics listener %s: %s", listen, getattr(exc, "strerror", None) or exc)
            return 1
    try:
        await runtime.start(config, hub)
    except StartupError as exc:
        log.error("%s", exc)
        await runtime.shutdown()
        if metrics is not None:
            await metrics.close()
        return 1
    enable_reload(runtime)
    if dump_conf:  # keepalived -d: the configuration data, into the log
        from vipkeeper.daemon.keepalived_dump import data_text

        for line in data_text(runtime.snapshot()).splitlines():
            log.info("%s", line)
    g = config.global_defs
    control_path = runtime.options.control_socket or g.control_socket or DEFAULT_PATH
    control = ControlServer(control_path, runtime.snapshot, {"reload": _reload_handler(runtime)})
    try:
        await control.start()
    except (ControlSocketError, OSError) as exc:
        log.error("control socket %s: %s", control_path, exc)
        control = None
    sd_notify("READY=1\nSTATUS=vipkeeper running")
    if runtime.timers is not None:
        runtime.loop_watch.start_watchdog(runtime.timers)
    await runtime.run_until_stopped()
    sd_notify("STOPPING=1")
    log.info("Stopping vipkeeper")
    if metrics is not None:
        await metrics.close()
    if control is not None:
        await control.close()
    await runtime.shutdown()
    log.info("Stopped vipkeeper")
    return 0


def _reload_handler(runtime):  # type: ignore[no-untyped-def]
    async def reload(_request: dict | None = None) -> dict:
        ok = await runtime.reload()
        return {"reloaded": ok, "error": runtime.last_reload_error}

    return reload


def _version() -> str:
    from vipkeeper import __version__

    return __version__
