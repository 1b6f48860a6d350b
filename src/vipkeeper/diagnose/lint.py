"""`vipkeeper lint`: read the configs and what they point at, then run the rules.

This is the shell around the pure rules (lint_rules.py): it loads each file with
`vipkeeper.config.load`, finds each vrrp_script's file and reads it, stat()s the file and its
directories (the facts enable_script_security judges), and reads the target's user list.

Where a script is looked for, in order:
1. `--root DIR` given: DIR + the absolute path (a copy of the server's filesystem);
   without it: the path itself (lint runs on the server);
2. the file of the same basename next to the config (configs and scripts copied off a server
   into one directory); the finding then says so, and permissions are judged on the file alone.
A script command that is a shell (`/bin/sh -c ...`, `sh FILE`) is looked through to its file;
the command line itself is scanned too, so `script "pidof haproxy"` is understood.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from vipkeeper.config import ConfigError, load
from vipkeeper.config.model import Config, VrrpScript, Where

from . import lint_rules
from .findings import Finding
from .lint_input import Node, PathFacts, ScriptFacts
from .script_scan import scan

SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "zsh", "busybox"})
MAX_SCRIPT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LintResult:
    findings: list[Finding]
    nodes: list[Node]
    files: list[str]


def _script_file(script: VrrpScript) -> str | None:
    """The file a script command runs: argv[0], or the file after a shell and its options."""
    argv = list(script.argv)
    if not argv:
        return None
    first = argv[0]
    if first.startswith("<"):
        return None  # `</path`: a file-existence test done by the shell
    if os.path.basename(first) in SHELLS:
        rest = argv[1:]
        while rest and rest[0].startswith("-"):
            if rest[0] == "-c":
                return None  # inline command text: scanned as the command line
            rest = rest[1:]
        return rest[0] if rest else None
    if first == "/usr/bin/env" and len(argv) > 1:
        return _script_file(VrrpScript(script.name, script.script, tuple(argv[1:])))
    return first if "/" in first else None


def _inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _components(path: str, stop: str | None) -> tuple[PathFacts, ...]:
    """stat() the file and each directory up to `/` (or up to `stop`, exclusive)."""
    out: list[PathFacts] = []
    current = os.path.realpath(path)
    stop_real = os.path.realpath(stop) if stop else None
    while True:
        try:
            st = os.stat(current)
        except OSError:
            break
        out.append(PathFacts(current, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode) | (st.st_mode & stat.S_ISVTX),
                             stat.S_ISDIR(st.st_mode)))
        parent = os.path.dirname(current)
        if parent == current or (stop_real is not None and parent == stop_real):
            break
        current = parent
    return tuple(out)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SCRIPT_BYTES)
    except OSError:
        return None
    if b"\0" in data[:4096]:
        return None  # a binary: nothing to scan
    return data.decode("utf-8", errors="replace")


def script_facts(script: VrrpScript, config_file: str, root: str | None) -> ScriptFacts:
    """Find, read and stat one vrrp_script's file."""
    command_checks = tuple(scan(script.script))
    path = _script_file(script)
    if path is None:
        return ScriptFacts(script.name, None, how="inline", command_checks=command_checks)
    tried: list[str] = []
    candidates: list[tuple[str, str]] = []
    if root is not None and os.path.isabs(path):
        candidates.append((_inside(root, path), "root"))
    elif os.path.isabs(path):
        candidates.append((path, "direct"))
    else:
        candidates.append((os.path.join(os.path.dirname(config_file) or ".", path), "direct"))
    beside = os.path.join(os.path.dirname(os.path.abspath(config_file)), os.path.basename(path))
    candidates.append((beside, "beside-config"))
    for candidate, how in candidates:
        tried.append(candidate)
        if not os.path.isfile(candidate):
            continue
        text = _read(candidate)
        if how == "beside-config":
            components = _components(candidate, os.path.dirname(candidate))
        elif how == "root":
            components = _components(candidate, root)
        else:
            components = _components(candidate, None)
        mode = components[0].mode if components else 0
        return ScriptFacts(
            script.name, path, resolved=candidate, how=how, text=text,
            checks=tuple(scan(text)) if text is not None else (),
            command_checks=command_checks, components=components,
            executable=bool(mode & 0o111), tried=tuple(tried),
        )
    return ScriptFacts(script.name, path, command_checks=command_checks, tried=tuple(tried))


def target_users(root: str | None) -> tuple[frozenset[str] | None, str]:
    """User names on the server: from DIR/etc/passwd with --root, else this machine's."""
    passwd = _inside(root, "/etc/passwd") if root else "/etc/passwd"
    text = _read(passwd)
    if text is None:
        return None, ""
    names = frozenset(line.split(":", 1)[0] for line in text.splitlines() if line and not line.startswith("#"))
    return names, f"checked {passwd}" + ("" if root else " on this machine")


def gather(config: Config, label: str, root: str | None) -> Node:
    users, source = target_users(root)
    scripts = {s.name: script_facts(s, s.where.file if s.where.line else label, root) for s in config.scripts}
    return Node(label, config, scripts, users, source)


def lint_files(paths: list[str], root: str | None = None, config_id: str | None = None) -> LintResult:
    """Load every file, lint them as the nodes of one cluster. A file that cannot be read at all
    becomes one VK000 error finding (the ConfigError one-liner), and is left out of the rest."""
    findings: list[Finding] = []
    nodes: list[Node] = []
    for path in paths:
        try:
            config = load(path, config_id=config_id)
        except ConfigError as exc:
            findings.append(Finding("VK000", "error", exc.where, exc.message,
                                    "make the file readable as a keepalived configuration (`vipkeeper check`)"))
            continue
        except OSError as exc:
            findings.append(Finding("VK000", "error", Where(path, 0), exc.strerror or str(exc),
                                    "give a readable configuration file"))
            continue
        nodes.append(gather(config, path, root))
    findings.extend(lint_rules.run(nodes))
    return LintResult(findings, nodes, paths)
