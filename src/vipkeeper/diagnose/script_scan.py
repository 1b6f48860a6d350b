"""Which processes a health-check script watches, and how: a reader of shell text, not a shell.

Rules
- Recognised checks: `pidof`, `pgrep`, `killall -0`/`killall -s 0`, `ps ... | grep NAME`,
  `systemctl is-active UNIT`, `service NAME status`, `kill -0 $(cat FILE.pid)`. Each becomes a
  `ProcessCheck` with the names it looks for, the line it stands on, and how its answer is used.
- "Output parsed" means the answer is taken from what the tool prints rather than its exit
  status: inside `$( )` or backticks, or piped on (`| wc -l`, `| grep`). `ps | grep` always is.
  pidof's output is exactly what its /proc race corrupts (it prints "can't read from
  /proc/NNN/stat" and may print nothing while the service runs), so this matters.
- Names are compared as the kernel shows them: the basename, cut to 15 characters (comm), with
  a few service/unit names mapped to their process names (`postfix` runs as `master`).
- Pure: takes text, returns values; reading the file is the caller's business.

Theory of operation: comments are stripped line by line (a `#` at a word start, outside quotes),
then each line is searched for the tools above with regular expressions; the arguments up to the
next shell operator are split into options and names. Good enough for the few lines admins write
in check scripts; anything cleverer (functions, variables holding names) is simply not seen.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

COMM_LEN = 15

# Names that mean the same running program: unit or package name <-> process name.
_SAME_PROGRAM: tuple[frozenset[str], ...] = (
    frozenset({"postfix", "master"}),
    frozenset({"ssh", "sshd"}),
    frozenset({"mysql", "mysqld", "mariadb", "mariadbd"}),
    frozenset({"bind9", "named"}),
    frozenset({"apache2", "httpd"}),
    frozenset({"postgresql", "postgres"}),
    frozenset({"varnish", "varnishd"}),
    frozenset({"squid", "squid3"}),
    frozenset({"slapd", "openldap"}),
    frozenset({"redis", "redis-server"}),
    frozenset({"memcached", "memcache"}),
    frozenset({"docker", "dockerd"}),
)


def program_names(name: str) -> frozenset[str]:
    """Every name under which `name` (a process, path, unit or service name) may run."""
    base = name.rsplit("/", 1)[-1].strip("'\"^$")
    for suffix in (".service",):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    if "@" in base:
        base = base.split("@", 1)[0]
    base = base.removesuffix(".pid")
    names = {base}
    for group in _SAME_PROGRAM:
        if base in group:
            names |= group
    if base.startswith("php") and base.endswith("-fpm"):
        names.add("php-fpm")
    return frozenset(n[:COMM_LEN] for n in names if n)


def same_program(a: str, b: str) -> bool:
    return bool(program_names(a) & program_names(b))


@dataclass(frozen=True)
class ProcessCheck:
    """One check of a process in a script."""

    tool: str  # pidof, pgrep, killall, ps|grep, systemctl, service, kill-0
    names: tuple[str, ...]
    line: int  # 1-based, in the scanned text
    text: str  # the source line, stripped
    output_parsed: bool
    quiet: bool  # pidof -q (pidof only; other tools say nothing useful)


_OPERATORS = re.compile(r"\|\||&&|[|;&)`<>]|\$\(")
_TOOL = re.compile(
    r"(?:^|(?<=[\s;&|(`!{]))(?:/[\w./-]*/)?(?P<tool>pidof|pgrep|killall|systemctl|service|kill)(?=\s)"
)
_PS = re.compile(r"(?:^|(?<=[\s;&|(`!]))(?:/[\w./-]*/)?ps\b(?P<pipeline>[^;&)`]*)")
_COMMAND_WORDS = frozenset({"if", "then", "do", "else", "elif", "while", "until", "exec", "command",
                            "sudo", "time", "!", "nice", "timeout"})
_PIDFILE = re.compile(r"(?:cat\s+|<\s*)['\"]?(?P<file>[^\s'\")`]+\.pid)")
# options that consume the next word, per tool
_OPTS_WITH_ARG = {
    "pidof": {"-o"},
    "pgrep": {"-u", "-U", "-G", "-g", "-P", "-s", "-t", "-F", "--ns", "--nslist", "--euid", "--uid",
              "--group", "--pgroup", "--parent", "--session", "--terminal", "--pidfile", "-d",
              "--delimiter", "--signal", "-r", "--runstates"},
    "killall": {"-s", "--signal", "-u", "--user", "-o", "-y", "-n", "--ns", "--context", "-Z"},
}


def strip_comment(line: str) -> str:
    """Drop a shell comment: `#` at a word start, outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t;&|("):
            return line[:i]
    return line


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _inside_substitution(before: str) -> bool:
    """Is a position after `before` inside `$( )` or backticks on the same line?"""
    if before.count("`") % 2 == 1:
        return True
    depth = 0
    i = 0
    while i < len(before):
        if before.startswith("$(", i):
            depth += 1
            i += 2
            continue
        if before[i] == ")" and depth:
            depth -= 1
        i += 1
    return depth > 0


def _piped_on(after: str) -> bool:
    """Does the command's output go into a pipe (`|` but not `||`)?"""
    m = _OPERATORS.search(after)
    if not m:
        return False
    return m.group(0) == "|"


def _command_position(before: str) -> bool:
    """Is the word after `before` a command (not an argument of another command)?"""
    text = before.rstrip()
    if not text or text[-1] in ";&|(`!{":
        return True
    if text.endswith("$("):
        return True
    last = text.split()[-1]
    return last in _COMMAND_WORDS or last.endswith("$(")


def _grep_target(pipeline: str) -> str | None:
    """The process name a `ps ... | grep X | ...` pipeline looks for (not `grep -v`'s)."""
    for segment in pipeline.split("|")[1:]:
        words = _words(segment.strip())
        if not words or words[0].rsplit("/", 1)[-1] not in ("grep", "egrep", "fgrep"):
            continue
        opts = [w for w in words[1:] if w.startswith("-")]
        if any("v" in o[1:] for o in opts if not o.startswith("--")) or "--invert-match" in opts:
            continue
        patterns = [w for w in words[1:] if not w.startswith("-") and not w.startswith(">")]
        for pat in patterns:
            name = re.sub(r"[\\()\[\].*+?^$]", "", pat).strip()
            if name and name != "grep":
                return name
    return None


def _split_args(tool: str, words: list[str]) -> tuple[list[str], list[str]]:
    opts, names = [], []
    takes_arg = _OPTS_WITH_ARG.get(tool, set())
    skip = False
    for w in words:
        if skip:
            skip = False
            opts.append(w)
            continue
        if w.startswith("-") and len(w) > 1:
            opts.append(w)
            if w in takes_arg:
                skip = True
            continue
        if w.startswith(">") or w.startswith("2>") or w.startswith("&>") or w == "2>&1":
            continue
        names.append(w)
    return opts, names


def _pgrep_name(tool_opts: list[str], names: list[str]) -> list[str]:
    if not names:
        return []
    pattern = names[-1].strip("^$'\"")
    if any(o in ("-f", "--full") or (o.startswith("-") and not o.startswith("--") and "f" in o[1:])
           for o in tool_opts):
        pattern = pattern.split()[0] if pattern.split() else pattern
    pattern = re.sub(r"[\\()\[\].*+?|]", "", pattern.rsplit("/", 1)[-1])
    return [pattern] if pattern else []


def scan(text: str) -> list[ProcessCheck]:
    """Every process check in `text`, in line order."""
    checks: list[ProcessCheck] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = strip_comment(raw)
        if not line.strip():
            continue
        shown = raw.strip()
        for m in _PS.finditer(line):
            if not _command_position(line[: m.start()]):
                continue
            name = _grep_target(m.group("pipeline"))
            if name:
                checks.append(ProcessCheck("ps|grep", (name,), number, shown, True, False))
        for m in _TOOL.finditer(line):
            tool = m.group("tool")
            before, rest = line[: m.start()], line[m.end():]
            if not _command_position(before):
                continue
            op = _OPERATORS.search(rest)
            args = rest[: op.start()] if op else rest
            after = rest[op.start():] if op else ""
            words = _words(args)
            parsed = _inside_substitution(before) or _piped_on(after)
            if tool == "pidof":
                opts, names = _split_args(tool, words)
                quiet = any(o.startswith("-") and not o.startswith("--") and "q" in o[1:] for o in opts
                            if o not in _OPTS_WITH_ARG["pidof"])
                if names:
                    checks.append(ProcessCheck(tool, tuple(names), number, shown, parsed, quiet))
            elif tool == "pgrep":
                opts, names = _split_args(tool, words)
                found = _pgrep_name(opts, names)
                if found:
                    checks.append(ProcessCheck(tool, tuple(found), number, shown, parsed, False))
            elif tool == "killall":
                if not words:
                    continue
                signal_zero = words[0] == "-0" or (len(words) > 1 and words[0] in ("-s", "--signal")
                                                   and words[1] in ("0",))
                if signal_zero:
                    _, names = _split_args(tool, words[2:] if words[0] in ("-s", "--signal") else words[1:])
                    if names:
                        checks.append(ProcessCheck(tool, tuple(names), number, shown, parsed, False))
            elif tool == "systemctl":
                if "is-active" in words:
                    units = [w for w in words[words.index("is-active") + 1:] if not w.startswith("-")]
                    if units:
                        checks.append(ProcessCheck(tool, tuple(units), number, shown, parsed, False))
            elif tool == "service":
                if len(words) >= 2 and words[1] == "status":
                    checks.append(ProcessCheck(tool, (words[0],), number, shown, parsed, False))
            elif tool == "kill":
                if words[:1] == ["-0"] or words[:2] == ["-s", "0"]:
                    pid = _PIDFILE.search(rest)
                    if pid:
                        checks.append(ProcessCheck("kill-0", (pid.group("file"),), number, shown, False, False))
    return checks
