"""The man pages vipkeeper(8) and vipkeeper.conf(5), written from the code they describe.

Rule: a man page states only what the code will do. So the parts that the code defines are read
from it when the page is written (at package build time, `python3 -m vipkeeper.manpages DIR`):
- vipkeeper(8): every command registered in `vipkeeper.cli.COMMANDS` (and any option of the
  top-level group), each with its usage line, help text and options as click defines and
  prints them (`Option.get_help_record`: the same words and defaults as `--help`);
- vipkeeper.conf(5): every keyword of the tables in `config/keywords.py` (and the top-level
  blocks the parser dispatches), sorted by what vipkeeper does with it: acts on it, accepts and
  ignores it, or reports it as not supported.
What the code cannot say by itself (exit status, signals, files, the service, partial support
of a few keywords) is written here beside the generator, and tests/unit/test_manpages.py fails
when it no longer matches the code: a command without an exit-status entry, a signal handler
without a SIGNALS entry, a "partly supported" keyword that no longer reports itself.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from vipkeeper import __version__
from vipkeeper.cli import COMMANDS, main

# -- what the code cannot say by itself ------------------------------------------------------------

EXIT_STATUS: dict[str, str] = {
    "run": "0 after a clean stop (SIGTERM, SIGINT); 1 when the configuration is not usable or the "
           "daemon cannot start (not root, pid file held, namespace missing).",
    "check": "0 when the configuration is usable (clean, or with warnings or unsupported keywords "
             "only); 1 when it has errors or cannot be read. (keepalived -t exits 5 on any warning.)",
    "lint": "0 clean (or warnings without --strict); 1 warnings with --strict; 2 any error, "
            "including a file that cannot be read as a configuration.",
    "doctor": "0 nothing found (info findings alone); 1 problems found (error or warning "
              "findings); 2 a log file could not be read.",
    "pidcheck": "0 when every NAME has a running process; 1 otherwise.",
    "decode": "0 after decoding; 1 when the file or the hex cannot be read; 2 on a usage error.",
    "status": "0 when the daemon answered; 1 when it could not be reached.",
    "lab": "0 when the scenario ran; 1 when the lab could not be built or a step timed out; 130 "
           "when interrupted.",
}

# Signals `vipkeeper run` handles (daemon/runtime.py install_signal_handlers).
SIGNALS: dict[str, str] = {
    "SIGHUP": "Reload: read and check the configuration file again; when it is usable, apply it "
              "(instances that did not change keep their state and VIPs); when it is not, log "
              "FILE:LINE and keep running on the configuration in force.",
    "SIGTERM": "Stop: each Master sends a priority-0 advert (so a Backup takes over without waiting "
               "the master-down interval) and removes its VIPs; then the daemon exits.",
    "SIGINT": "As SIGTERM.",
    "SIGUSR1": "Write the daemon's data (instances, trackers, scripts) as JSON to the --data-file.",
    "SIGUSR2": "Write the daemon's statistics as JSON to the --stats-file.",
}

# Keywords whose table row says "ok" but that the reader or the parser reports as not (fully)
# supported; the test checks that each still produces an `unsupported` diagnostic.
PARTIAL: dict[str, str] = {
    "use_vmac": "read, but no VMAC interface is made: the instance runs on its interface with "
                "the interface's own MAC address (reported as unsupported)",
    "virtual_routes": "read, but no route is installed (reported as unsupported)",
    "static_routes": "read, but no route is installed (reported as unsupported)",
    "auth_type": "PASS acts; AH is reported as unsupported",
    "unicast_peer": "addresses act; a peer's min_ttl/max_ttl is reported as unsupported",
}

# vipkeeper's additions to keepalived's language.
OWN_KEYWORDS = ("fast_handover", "control_socket", "metrics_listen")

SERVICE_UNIT = "/lib/systemd/system/vipkeeper.service"
DEFAULTS_FILE = "/etc/default/vipkeeper"
CONFIG_FILE = "/etc/keepalived/keepalived.conf"


# -- roff ------------------------------------------------------------------------------------------

def esc(text: str) -> str:
    """Plain text for roff: backslashes escaped, a leading dot or quote neutralised."""
    text = text.replace("\\", "\\e")
    lines = [("\\&" + line) if line.startswith((".", "'")) else line for line in text.split("\n")]
    return "\n".join(lines)


def code(text: str) -> str:
    """Literal text (commands, options, paths): escaped, with real minus signs."""
    return esc(text).replace("-", "\\-")


def prose(text: str) -> str:
    """Help text: `quoted` words become bold literals, option names get minus signs."""
    out = []
    for i, part in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append("\\fB" + code(part) + "\\fR")
        else:
            part = esc(part)
            out.append(re.sub(r"(?<![\w-])(--?[A-Za-z][\w-]*)", lambda m: m.group(1).replace("-", "\\-"), part))
    return "".join(out)


def paragraphs(text: str) -> list[str]:
    """A docstring's paragraphs, each joined into one line (click's \\b markers dropped)."""
    text = inspect.cleandoc(text or "")
    paras = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip() != "\b"]
        if lines:
            paras.append(" ".join(lines))
    return paras


def _date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch else dt.datetime.now(dt.timezone.utc)
    return when.strftime("%Y-%m-%d")


def _header(name: str, section: int, manual: str) -> list[str]:
    return [
        ".\\\" Generated by vipkeeper.manpages from the code; do not edit.",
        f'.TH {name.upper()} {section} "{_date()}" "vipkeeper {__version__}" "{manual}"',
        ".ad l",  # option defaults are long paths: ragged right instead of stretched lines
    ]


# -- vipkeeper(8) ----------------------------------------------------------------------------------

def _root() -> click.Context:
    return click.Context(main, info_name="vipkeeper", **main.context_settings)


def _commands() -> list[tuple[str, click.Command]]:
    ctx = _root()
    found = []
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        if command is not None:
            found.append((name, command))
    return found


def _usage(command: click.Command, parent: click.Context | None, name: str) -> str:
    ctx = click.Context(command, info_name=name, parent=parent)
    return " ".join(command.collect_usage_pieces(ctx))


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    lines: list[str] = []
    for param in command.get_params(ctx):
        if param.name == "help" and ctx.parent is not None:
            continue  # every command has -h/--help; said once, under OPTIONS
        record = param.get_help_record(ctx)
        if record is None:
            continue
        spec, help_text = record
        lines += [".TP", _option_spec(spec), prose(help_text) if help_text else "\\&"]
    return lines


def _option_spec(spec: str) -> str:
    """`-f, --use-file FILE` as bold option names and an italic metavar."""
    parts = []
    for item in spec.split(", "):
        words = item.split(" ", 1)
        text = "\\fB" + code(words[0]) + "\\fR"
        if len(words) > 1:
            text += " \\fI" + code(words[1]) + "\\fR"
        parts.append(text)
    return ", ".join(parts)


def page_vipkeeper() -> str:
    commands = _commands()
    root = _root()
    out = _header("vipkeeper", 8, "System Administration")
    out += [".SH NAME", "vipkeeper \\- keepalived\\-compatible VRRP failover daemon with race\\-free process tracking"]

    out += [".SH SYNOPSIS", ".nh"]
    out += [".B vipkeeper", code(" ".join(main.collect_usage_pieces(root)))]
    for name, command in commands:
        out += [".br", f".B vipkeeper {code(name)}", code(_usage(command, root, name))]
    out += [".hy"]

    out += [".SH DESCRIPTION"]
    out += _join_paras(prose(p) for p in paragraphs(main.help or ""))
    out += [
        ".PP",
        "\\fBvipkeeper run\\fR reads keepalived's configuration file (see \\fBvipkeeper.conf\\fR(5) for "
        "which keywords act) and runs the VRRP side of keepalived: the same state machine, timers, "
        "adverts, notify scripts and log lines, with processes tracked through the kernel's process "
        "connector and pidfds instead of scans of /proc. The other commands read configurations, "
        "logs and captures, or ask the running daemon; only \\fBrun\\fR, \\fBstatus\\fR and \\fBlab\\fR "
        "need root.",
    ]

    out += [".SH OPTIONS", "Options of \\fBvipkeeper\\fR itself, before the command:"]
    out += _options(main, root)

    out += [".SH COMMANDS"]
    for name, command in commands:
        ctx = click.Context(command, info_name=name, parent=root, **command.context_settings)
        out += [f'.SS "vipkeeper {code(name)}"']
        paras = paragraphs(command.help or command.short_help or "")
        for i, para in enumerate(paras):
            out += ([".PP"] if i else []) + [prose(para)]
        opts = _options(command, ctx)
        if opts:
            out += [".PP", "Options:", ".RS"] + opts + [".RE"]

    out += [".SH SIGNALS", "\\fBvipkeeper run\\fR acts on these signals:"]
    for sig, text in SIGNALS.items():
        out += [".TP", f"\\fB{sig}\\fR", prose(text)]
    out += [".PP", "After SIGKILL nothing is released: a Backup takes over when the Master's adverts stop "
                   "(the master\\-down interval), and the VIPs stay on the killed node until vipkeeper "
                   "starts there again and removes them."]

    out += [".SH EXIT STATUS"]
    for name, _command in commands:
        out += [".TP", f"\\fB{code(name)}\\fR", prose(EXIT_STATUS.get(name, "0 on success, 1 on failure."))]
    out += [".PP", "Every command exits 2 on a usage error (an unknown option, a missing argument)."]

    out += [".SH FILES"]
    for path, text in _files():
        out += [".TP", f"\\fI{code(path)}\\fR", prose(text)]

    out += [".SH SERVICE"]
    out += _join_paras(prose(p) for p in [
        f"The package installs `{SERVICE_UNIT}`, disabled and not started (on a host that runs "
        "keepalived, starting vipkeeper would stop keepalived: the unit conflicts with keepalived.service). "
        f"It starts only when `{CONFIG_FILE}` exists and is not empty, runs "
        "`vipkeeper run --dont-fork $CONFIG_ARGS $DAEMON_ARGS` with both variables from "
        f"`{DEFAULTS_FILE}`, reports readiness to systemd (Type=notify), and reloads with "
        "`vipkeeper check $CONFIG_ARGS` followed by SIGHUP, so a broken file is refused before the "
        "daemon sees it.",
        "To read another file, set CONFIG_ARGS=\"-f /etc/vipkeeper/vipkeeper.conf\" and add a drop-in "
        "(`systemctl edit vipkeeper`) with `ConditionFileNotEmpty=` (empty, to reset) and "
        "`ConditionFileNotEmpty=/etc/vipkeeper/vipkeeper.conf`.",
        "The unit keeps only the capabilities the daemon and common notify scripts need "
        "(CAP_NET_ADMIN, CAP_NET_RAW, CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_DAC_OVERRIDE, "
        "CAP_NET_BIND_SERVICE) and makes /usr and /boot read-only and /home read-only; /etc, /var and "
        "/tmp stay writable for notify scripts. `--netns` needs CAP_SYS_ADMIN: add it in a drop-in "
        "(`CapabilityBoundingSet=CAP_SYS_ADMIN`, which adds to the set).",
    ])

    out += [".SH EXAMPLES"]
    for text, command in [
        ("Test the configuration as vipkeeper will read it:", f"vipkeeper check \\-f {code(CONFIG_FILE)}"),
        ("Run in the foreground, logging to the terminal too:", f"vipkeeper run \\-n \\-l \\-f {code(CONFIG_FILE)}"),
        ("Check the configurations of both nodes of a pair against each other:",
         "vipkeeper lint node1.conf node2.conf"),
        ("Explain what happened, from both nodes' journals:",
         "journalctl \\-u vipkeeper \\-o json | vipkeeper doctor \\-"),
        ("A vrrp_script body that cannot race with exiting processes:", "vipkeeper pidcheck haproxy"),
        ("Switch a host from keepalived to vipkeeper (same configuration):",
         "systemctl disable \\-\\-now keepalived && systemctl enable \\-\\-now vipkeeper"),
    ]:
        out += [".PP", text, ".RS", ".nf", command, ".fi", ".RE"]

    out += [".SH SEE ALSO", "\\fBvipkeeper.conf\\fR(5), \\fBkeepalived\\fR(8), \\fBkeepalived.conf\\fR(5), "
                             "\\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1)"]
    return "\n".join(out) + "\n"


def _join_paras(paras: Iterable[str]) -> list[str]:
    result: list[str] = []
    for i, para in enumerate(paras):
        if i:
            result.append(".PP")
        result.append(para)
    return result


def _default_of(command_name: str, param_name: str) -> str:
    ctx = _root()
    command = main.get_command(ctx, command_name)
    assert command is not None
    for param in command.params:
        if param.name == param_name:
            return str(param.default)
    raise KeyError(f"{command_name} has no parameter {param_name}")


def _files() -> list[tuple[str, str]]:
    from vipkeeper.control.server import DEFAULT_PATH

    return [
        (_default_of("run", "config_file"), "The configuration, in keepalived's language (`vipkeeper.conf`(5)); "
                                            "the default of -f."),
        (DEFAULTS_FILE, "CONFIG_ARGS and DAEMON_ARGS for the service."),
        (SERVICE_UNIT, "The systemd unit (see SERVICE)."),
        (_default_of("run", "pid_file"), "The pid file of `vipkeeper run` (-p); the service uses "
                                         "/run/vipkeeper/vipkeeper.pid."),
        (DEFAULT_PATH, "The control socket `vipkeeper status` asks (root only)."),
        (_default_of("run", "data_file"), "Written on SIGUSR1 (--data-file)."),
        (_default_of("run", "stats_file"), "Written on SIGUSR2 (--stats-file)."),
    ]


# -- vipkeeper.conf(5) -----------------------------------------------------------------------------

def _blocks() -> list[tuple[list[str], dict]]:
    """(block names, keyword table), the top-level blocks the parser dispatches; names that share
    a table (track_file and vrrp_track_file) are listed together."""
    from vipkeeper.config import keywords as kw
    from vipkeeper.config.parser import _TOP_BLOCKS

    blocks: list[tuple[list[str], dict]] = []
    for name, (table, _attr, _named) in _TOP_BLOCKS.items():
        for names, known in blocks:
            if known is table:
                names.append(name)
                break
        else:
            blocks.append(([name], table))
    blocks.insert(2, (["authentication (inside vrrp_instance)"], kw.AUTHENTICATION))
    return blocks


def _keyword_list(names: Iterable[str]) -> str:
    return ", ".join(f"\\fB{code(w)}\\fR" for w in sorted(names)) + "."


def _classify(table: dict) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"ok": [], "partly": [], "ignored": [], "unsupported": []}
    for name, spec in table.items():
        groups["partly" if spec.status == "ok" and name in PARTIAL else spec.status].append(name)
    return groups


_GROUP_TITLES = {"ok": "Acted on", "partly": "Partly supported (see PARTLY SUPPORTED)",
                 "ignored": "Ignored", "unsupported": "Not supported"}


def _groups(groups: dict[str, list[str]]) -> list[str]:
    out = []
    for key, title in _GROUP_TITLES.items():
        if groups.get(key):
            out += [".TP", title, _keyword_list(groups[key])]
    return out


def page_conf() -> str:
    from vipkeeper.config import keywords as kw
    from vipkeeper.config.parser import MAX_UNKNOWN

    out = _header("vipkeeper.conf", 5, "File Formats")
    out += [".SH NAME", "vipkeeper.conf \\- the keepalived.conf keywords vipkeeper acts on, ignores and refuses"]
    out += [".SH DESCRIPTION"]
    out += _join_paras(prose(p) for p in [
        f"vipkeeper reads keepalived 2.2.7's configuration language, by default from `{CONFIG_FILE}`: "
        "`include` (with globs), `$NAME=value` definitions and their use, `@ID` conditional lines "
        "(selected by -i), `~SEQ` sequences, `#` and `!` comments. This page lists, block by block, what "
        "vipkeeper does with each keyword. It is generated from vipkeeper's keyword tables, so it names "
        "exactly the keywords this version knows.",
        "Acted on: the keyword has keepalived's meaning, default and range. A value that does not read "
        "(wrong type, out of range) is a warning naming FILE:LINE and the keyword is then ignored, as "
        "keepalived does; a few values make the block unusable and are errors.",
        "Ignored: the keyword is accepted without a diagnostic and has no effect on VRRP (LVS, SNMP, "
        "e-mail and process tuning settings of keepalived).",
        "Not supported: `vipkeeper check` reports the keyword at FILE:LINE with severity "
        "\"unsupported\", and it has no effect (a block under it is not read); the rest of the "
        "configuration runs. Check for these before switching a host from keepalived.",
        "A keyword in none of the lists is unknown: a warning at FILE:LINE, and its block is skipped. "
        f"A file with more than {MAX_UNKNOWN} unknown keywords is refused as not a keepalived "
        "configuration.",
    ])

    out += [".SH TOP LEVEL"]
    top_ok = [name for names, _t in _blocks() for name in names if " " not in name] + ["static_ipaddress"]
    out += _groups({"ok": top_ok, "partly": ["static_routes"], "ignored": list(kw.TOP_IGNORED),
                    "unsupported": list(kw.TOP_UNSUPPORTED)})

    for names, table in _blocks():
        title = ", ".join(names) if " " in names[0] else ", ".join(n.upper() for n in names)
        out += [f'.SH "{code(title)}"']
        out += _groups(_classify(table))
        reasons = {spec.note for spec in table.values() if spec.status == "unsupported" and spec.note}
        if reasons:
            out += [".PP", "Why not: " + prose("; ".join(sorted(reasons))) + "."]

    out += [".SH PARTLY SUPPORTED"]
    for name, text in PARTIAL.items():
        out += [".TP", f"\\fB{code(name)}\\fR", prose(text) + "."]
    out += [".SH VIPKEEPER'S OWN KEYWORDS"]
    for name, text in [
        ("fast_handover", "In vrrp_instance: for a pair, take over at once on a priority-0 advert "
                          "instead of waiting the skew time (a unicast instance with one peer does this "
                          "by itself). keepalived does not know it: keep it out of files keepalived reads."),
        ("control_socket", "In global_defs: the path of the control socket `vipkeeper status` asks."),
        ("metrics_listen", "In global_defs: ADDRESS:PORT to serve Prometheus metrics on (off by default)."),
    ]:
        out += [".TP", f"\\fB{code(name)}\\fR", prose(text)]
    out += [".SH SEE ALSO", "\\fBvipkeeper\\fR(8), \\fBkeepalived.conf\\fR(5)"]
    return "\n".join(out) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("vipkeeper.8", page_vipkeeper()), ("vipkeeper.conf.5", page_conf())):
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 -m vipkeeper.manpages DIRECTORY")
    for written_path in write(Path(sys.argv[1])):
        print(written_path)
