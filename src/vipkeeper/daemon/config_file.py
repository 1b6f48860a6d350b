"""Reading the daemon's configuration file: parsed, checked against the host, diagnostics logged.

Apart from daemon/runtime.py so that the daemon's start (daemon/start.py) reads its file, and
opens its VRRP sockets (daemon/early_listen.py), before it imports the event loop and the rest
of the runtime (issue 18: the Startup time). A configuration with errors, or one naming a
feature whose extra is not installed, is a `StartupError`: one line, nothing started.
"""

from __future__ import annotations

import logging

from vipkeeper.config import load as load_config
from vipkeeper.config.model import Config, ConfigError
from vipkeeper.config.scripts import with_host_checks

log = logging.getLogger("vipkeeper.daemon")


class StartupError(Exception):
    """The daemon cannot start; the message is one line for the admin."""


def read_config(config_file: str, config_id: str | None = None) -> Config:
    try:
        config = with_host_checks(load_config(config_file, config_id=config_id))
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(f"{config_file}: {exc.strerror or exc}") from None
    for diag in config.diagnostics:
        level = {"error": logging.ERROR, "ignored": logging.INFO}.get(diag.severity, logging.WARNING)
        log.log(level, "%s", diag)
    if not config.usable:
        raise StartupError(f"{config_file}: configuration has errors, not starting")
    if config.witnesses:  # checked here, before a reload touches anything running
        from vipkeeper.asyncio_tls import TlsUnavailable

        try:
            import vipkeeper.witness.driver  # noqa: F401  (also gives asyncio its TLS support: asyncio_tls.py)
        except ImportError as exc:
            raise StartupError(f"{config_file}: vipkeeper_witness needs the 'witness' extra "
                               f"(pip install 'vipkeeper[witness]'; Debian: python3-aiohttp): {exc}") from None
        except TlsUnavailable as exc:
            raise StartupError(f"{config_file}: vipkeeper_witness: {exc}") from None
    return config
