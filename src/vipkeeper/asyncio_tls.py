"""asyncio without OpenSSL until something needs TLS (RSS, issue 18).

Rule kept
---------
The daemon does not map libssl and libcrypto (4.1 MiB of resident memory under Debian's
python3) unless it talks TLS, and the one part that does -- the etcd witness, over https --
gets asyncio's full TLS support whenever it is loaded, at start or on a reload.

How
---
asyncio imports `ssl` as an optional dependency: `asyncio.sslproto`, `asyncio.base_events` and
`asyncio.selector_events` each run `try: import ssl / except ImportError: ssl = None`, and
asyncio then works as on a Python built without OpenSSL, TLS left out. A `None` entry in
`sys.modules` makes an import raise ImportError (the import system's documented rule), so
`import_asyncio()` imports asyncio with `sys.modules["ssl"] = None` and removes the entry again
at once: nothing else ever sees it, and a later `import ssl` loads the real module.

`enable()` is the way back: it imports `ssl` and re-executes the three asyncio modules' import
of it, `importlib.reload(asyncio.sslproto)` (which also rebuilds the few module-level names
made from ssl) and `ssl` set in the two event-loop modules -- their functions read the global
at call time, so the running loop talks TLS from then on. witness/etcd_gateway.py calls it when
it is imported (read_config imports it for any `vipkeeper_witness`, before a reload touches
anything). If the asyncio of some later Python keeps ssl elsewhere, `enable()` raises
`TlsUnavailable` with one line, which read_config reports as a refused start or reload; the
test tests/unit/test_asyncio_tls.py fails first.

Only the daemon imports asyncio this way: daemon/start.py's `launch` (`vipkeeper run` and
keepalived's command line) calls `import_asyncio()` once the configuration is read and the VRRP
sockets listen (nothing before imports asyncio: tests/unit/test_import_weight.py), before the
runtime's modules. A process that imported asyncio before (a test runner, another command)
keeps its TLS as it was. The same import leaves out `typing` and `inspect` (vipkeeper/typing_standin.py,
vipkeeper/inspect_standin.py).
"""

from __future__ import annotations

import importlib
import sys
import types
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

_MODULES = ("asyncio.base_events", "asyncio.selector_events")


class TlsUnavailable(Exception):
    """asyncio could not be given its TLS support back (one line)."""


def import_asyncio() -> None:
    """Import asyncio without its ssl module, unless asyncio or ssl is loaded already, and
    without the typing and inspect modules, unless they are loaded already (typing_standin.py,
    inspect_standin.py)."""
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return
    from vipkeeper import inspect_standin, typing_standin

    sys.modules["ssl"] = None  # type: ignore[assignment]
    try:
        # nor typing and inspect (their modules say why)
        with _standing_in("typing", typing_standin.STANDIN), _standing_in("inspect", inspect_standin.STANDIN):
            import asyncio  # noqa: F401
    finally:
        if sys.modules.get("ssl", 0) is None:
            del sys.modules["ssl"]


@contextmanager
def _standing_in(name: str, standin: types.ModuleType) -> Iterator[None]:
    """Within the block, `import NAME` gives `standin` (unless the real module is loaded already);
    after it, a later import loads the real module."""
    if name in sys.modules:
        yield
        return
    sys.modules[name] = standin
    try:
        yield
    finally:
        if sys.modules.get(name) is standin:
            del sys.modules[name]


def enabled() -> bool:
    """Whether asyncio can talk TLS (it was imported with ssl, or `enable()` ran)."""
    import asyncio.sslproto

    return asyncio.sslproto.ssl is not None and all(
        getattr(sys.modules[name], "ssl", None) is not None for name in _MODULES if name in sys.modules)


def enable() -> None:
    """Give asyncio its TLS support (a no-op when it has it)."""
    if enabled():
        return
    try:
        import asyncio.sslproto
        import ssl

        importlib.reload(asyncio.sslproto)
        for name in _MODULES:
            module = sys.modules.get(name)
            if module is not None and hasattr(module, "ssl"):
                module.ssl = ssl  # type: ignore[attr-defined]
    except ImportError as exc:
        raise TlsUnavailable(f"TLS support cannot be loaded: {exc}") from None
    if not enabled():
        raise TlsUnavailable(f"TLS support cannot be given to this Python's asyncio ({sys.version.split()[0]})")
