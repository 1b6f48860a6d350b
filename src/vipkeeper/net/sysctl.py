"""Per-interface network sysctls (/proc/sys/net/{ipv4,ipv6}/conf/IF/KEY).

Rule: /proc/sys/net answers for the network namespace of the thread that opens the file, so a
caller in the daemon's namespace (after netns.enter) reads and writes that namespace's values,
and a caller elsewhere wraps the call in netns.call_in. A read that fails gives None; a write
that fails is logged once here and reported as False; neither raises.
"""

from __future__ import annotations

import logging

log = logging.getLogger("vipkeeper.net")


def sysctl_path(proto: str, ifname: str, key: str) -> str:
    return f"/proc/sys/net/{proto}/conf/{ifname}/{key}"


def read_sysctl(proto: str, ifname: str, key: str) -> str | None:
    try:
        with open(sysctl_path(proto, ifname, key)) as f:
            return f.read().strip()
    except OSError:
        return None


def write_sysctl(proto: str, ifname: str, key: str, value: str) -> bool:
    try:
        with open(sysctl_path(proto, ifname, key), "w") as f:
            f.write(value)
        return True
    except OSError as exc:
        log.warning("%s: cannot set %s.%s=%s: %s", ifname, proto, key, value, exc.strerror or exc)
        return False
