"""keepalived.conf, read as keepalived 2.2.7 reads it, into an immutable model.

`load(path)` / `loads(text)` return a `Config`. They raise `ConfigError` only when the input
cannot be read as a configuration at all (missing or binary file, unbalanced braces, include
loop, ...). Everything else - unknown keywords, values out of range, references to undefined
trackers, keepalived features vipkeeper does not act on - is a `Diagnostic` in
`Config.diagnostics`; `Config.usable` is False when any of them is an error (a feature whose
absence would change the wire or who holds a VIP is one, unless `vipkeeper_run_without` names it).
With `host=LocalHost()`, `load` also checks what keepalived -t checks on the host (host_checks.py).

The lexer, the parser and its keyword tables (`_PARSE_ONLY`) are imported by the first `load`,
`loads` or use of their names here, not with the package: the daemon drops them again once its
file is read (`release_parser`), so that their code and tables are not kept for its whole life
(issue 18: memory); the next load imports them afresh. Nothing a `Config` holds comes from them
(its records are model.py's and ip_interface.py's, which stay).
"""

from __future__ import annotations

import sys

from .model import (
    NOWHERE,
    Authentication,
    Config,
    ConfigError,
    Diagnostic,
    Garp,
    GlobalDefs,
    Instance,
    Notifies,
    ScriptCommand,
    Severity,
    SyncGroup,
    TrackFile,
    TrackProcess,
    TrackRef,
    VirtualAddress,
    VirtualRoute,
    VirtualRule,
    VrrpScript,
    Where,
)

__all__ = [
    "NOWHERE", "Authentication", "Config", "ConfigError", "Diagnostic", "Garp", "GlobalDefs",
    "Host", "Instance", "LocalHost", "Notifies", "ScriptCommand", "Severity", "SyncGroup", "TrackFile", "TrackProcess",
    "TrackRef", "VirtualAddress", "VirtualRoute", "VirtualRule", "VrrpScript", "Where", "load", "loads",
]


TYPE_CHECKING = False
if TYPE_CHECKING:
    from .host_checks import Host, LocalHost
    from .lexer import lex_file, lex_text
    from .parser import parse

# Modules only reading a file needs; no module outside config/ but manpages.py imports them.
_PARSE_ONLY = ("parser", "keywords", "tree", "lexer", "host_checks", "routes", "track_groups", "vmac_addr")
_LAZY = {"Host": "host_checks", "LocalHost": "host_checks", "lex_file": "lexer", "lex_text": "lexer",
         "parse": "parser"}


def __getattr__(name: str) -> object:
    leaf = _LAZY.get(name)
    if leaf is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{leaf}"), name)


def release_parser() -> None:
    """Forget the parse-only modules (their code is freed once nothing else holds it); the next
    `load` imports them again."""
    package = sys.modules[__name__]
    for leaf in _PARSE_ONLY:
        sys.modules.pop(f"{__name__}.{leaf}", None)
        package.__dict__.pop(leaf, None)


def load(path: str, *, config_id: str | None = None, host: Host | None = None) -> Config:
    """Read the configuration file at `path` (and its includes). `config_id` is keepalived's
    `-i`: it selects `@ID` lines; None means the host name's first label, as keepalived.
    `host` (e.g. `LocalHost()`): also check interfaces and script files there, as keepalived -t."""
    from .lexer import lex_file
    from .parser import parse

    return parse(lex_file(path, config_id=config_id), host)


def loads(text: str, *, name: str = "<string>", config_id: str | None = None) -> Config:
    """Read a configuration from a string; relative includes resolve against the cwd."""
    from .lexer import lex_text
    from .parser import parse

    return parse(lex_text(text, name=name, config_id=config_id))
