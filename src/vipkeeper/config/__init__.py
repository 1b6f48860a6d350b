"""keepalived.conf, read as keepalived 2.2.7 reads it, into an immutable model.

`load(path)` / `loads(text)` return a `Config`. They raise `ConfigError` only when the input
cannot be read as a configuration at all (missing or binary file, unbalanced braces, include
loop, ...). Everything else - unknown keywords, values out of range, references to undefined
trackers, keepalived features vipkeeper does not act on - is a `Diagnostic` in
`Config.diagnostics`; `Config.usable` is False when any of them is an error (a feature whose
absence would change the wire or who holds a VIP is one, unless `vipkeeper_run_without` names it).
With `host=LocalHost()`, `load` also checks what keepalived -t checks on the host (host_checks.py).
"""

from __future__ import annotations

from .host_checks import Host, LocalHost
from .lexer import lex_file, lex_text
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
from .parser import parse

__all__ = [
    "NOWHERE", "Authentication", "Config", "ConfigError", "Diagnostic", "Garp", "GlobalDefs",
    "Host", "Instance", "LocalHost", "Notifies", "ScriptCommand", "Severity", "SyncGroup", "TrackFile", "TrackProcess",
    "TrackRef", "VirtualAddress", "VirtualRoute", "VirtualRule", "VrrpScript", "Where", "load", "loads",
]


def load(path: str, *, config_id: str | None = None, host: Host | None = None) -> Config:
    """Read the configuration file at `path` (and its includes). `config_id` is keepalived's
    `-i`: it selects `@ID` lines; None means the host name's first label, as keepalived.
    `host` (e.g. `LocalHost()`): also check interfaces and script files there, as keepalived -t."""
    return parse(lex_file(path, config_id=config_id), host)


def loads(text: str, *, name: str = "<string>", config_id: str | None = None) -> Config:
    """Read a configuration from a string; relative includes resolve against the cwd."""
    return parse(lex_text(text, name=name, config_id=config_id))
