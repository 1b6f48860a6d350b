"""`ADDRESS:PORT` for listeners (`metrics_listen`, `--metrics`): one parser for `check` and `run`.

Accepted: `127.0.0.1:9650`, `[::1]:9650`, `localhost:9650`; `:9650` and `[::]:9650` mean every
address of both families (one dual-stack socket where IPv6 exists), `0.0.0.0:9650` every IPv4
address. Anything else is `ListenError` with one line saying what is expected.
"""

from __future__ import annotations

import ipaddress

ANY = ""  # the host of `:PORT`


class ListenError(ValueError):
    """A listen address that is not ADDRESS:PORT."""


def parse_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:9650`, `[::1]:9650`, `localhost:9650`, `:9650` -> (host, port); host ANY for
    `:9650`."""
    text = listen.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ListenError(f"{listen!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ListenError(f"{listen!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ListenError(f"{listen!r}: expected ADDRESS:PORT or :PORT")
        if host and host != "localhost":
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                raise ListenError(f"{listen!r}: {host!r} is not an IP address or localhost") from None
            if ip.version == 6:
                raise ListenError(f"{listen!r}: write IPv6 addresses in brackets, [{host}]:PORT")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ListenError(f"{listen!r}: port must be 0..65535")
    return host, int(port_text)
