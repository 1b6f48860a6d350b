"""The daemon: runtime, routers, tracking, process life; see docs/architecture.md.

One rule is kept here because it must hold before any module of the daemon imports asyncio:
asyncio is imported without TLS. asyncio imports `ssl` (and with it libssl and libcrypto) for TLS
transports the daemon never opens; that was 4.6 MiB of the daemon's RSS and several ms of its
start-up. `ssl` is hidden while asyncio is first imported, so asyncio takes the path of a
Python built without OpenSSL (its modules hold `ssl = None`), and is visible again afterwards:
a module that needs TLS (prometheus_client's exposition, for one) still imports it as usual.
Nothing happens when asyncio or ssl was already imported (tests, a host program).
"""

import sys

if "asyncio" not in sys.modules and "ssl" not in sys.modules:
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
