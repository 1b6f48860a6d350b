"""The daemon: runtime, routers, tracking, process life; see docs/architecture.md.

Importing the package imports asyncio without its TLS support (vipkeeper/asyncio_tls.py: 4 MiB
of OpenSSL the daemon maps only when an etcd witness needs it).
"""

from vipkeeper.asyncio_tls import import_asyncio

import_asyncio()
