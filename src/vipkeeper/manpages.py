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
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from vipkeeper import __version__
from vipkeeper.cli import main

# -- what the code cannot say by itself ------------------------------------------------------------

# Exit status of the commands whose help text does not state it (a command that does, in a
# paragraph starting "Exit status:", is documented in its own words; see `exit_status`).
EXIT_STATUS: dict[str, str] = {
    "run": "0 after a clean stop (SIGTERM, SIGINT); 1 when the configuration is not usable or the "
           "daemon cannot start (not root, pid file held, namespace missing).",
    "lint": "0 clean (or warnings without --strict); 1 warnings with --strict; 2 any error, "
            "including a file that cannot be read as a configuration.",
    "doctor": "0 nothing found (info findings alone); 1 problems found (error or warning "
              "findings); 2 a log file could not be read. With --host: 0 nothing found (info alone), "
              "1 warnings, 2 errors, 3 the configuration cannot be read.",
    "pidcheck": "0 when every NAME has a running process; 1 otherwise.",
    "decode": "0 after decoding; 1 when the file or the hex cannot be read; 2 on a usage error.",
    "status": "0 when the daemon answered; 1 when it could not be reached.",
    "lab": "0 when the scenario ran; 1 when the lab could not be built or a step timed out; 130 "
           "when interrupted.",
}


def exit_status(name: str, command: click.Command) -> str:
    """The command's own "Exit status:" paragraph, else its EXIT_STATUS entry."""
    for para in paragraphs(command.help or ""):
        if para.lower().startswith("exit status:"):
            return para.split(":", 1)[1].strip()
    return EXIT_STATUS.get(name, "")


# What each of keepalived's signal functions (daemon/runtime.py SIGNUM) does in the daemon; the
# signal numbers and the lists of stop and ignored signals are read from runtime.py.
SIGNAL_FUNCTIONS: dict[str, str] = {
    "RELOAD": "Reload: read and check the configuration file again; when it is usable, apply it "
              "(instances that did not change keep their state and VIPs); when it is not, log "
              "FILE:LINE and keep running on the configuration in force.",
    "STOP": "Stop: each Master sends a priority-0 advert (so a Backup takes over without waiting the "
            "master-down interval) and removes its VIPs; then the daemon exits.",
    "DATA": "Write keepalived's text data dump to the --data-file, and vipkeeper's JSON snapshot to "
            "the --snapshot-file.",
    "STATS": "Write keepalived's text statistics to the --stats-file.",
    "STATS_CLEAR": "Write the statistics as STATS does, then set the counters to zero.",
    "JSON": "Write keepalived's JSON dump (an array of data and stats) to the --json-file.",
}

# Keywords whose table row says "ok" but of which the parser refuses or reports a part; the test
# checks that each sample still draws a diagnostic of that severity.
PARTIAL: dict[str, str] = {
    "auth_type": "PASS acts; AH is an error, with no vipkeeper_run_without: a peer using AH would "
                 "reject every advert vipkeeper sends, and both nodes would become Master",
}

# vipkeeper's additions to keepalived's language.
OWN_KEYWORDS = ("fast_handover", "control_socket", "metrics_listen", "vipkeeper_run_without")

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
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
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


def _options(command: click.Command, ctx: click.Context, skip_help: bool = True) -> list[str]:
    lines: list[str] = []
    for param in command.get_params(ctx):
        if param.name == "help" and ctx.parent is not None and skip_help:
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
    out += [".br", ".B vipkeeper", "\\fIKEEPALIVED\\-OPTIONS\\fR", ".br", ".B keepalived",
            "\\fIKEEPALIVED\\-OPTIONS\\fR (when installed under that name)"]
    out += [".hy"]

    out += [".SH DESCRIPTION"]
    out += _join_paras(prose(p) for p in paragraphs(main.help or ""))
    out += [
        ".PP",
        ("\\fBvipkeeper run\\fR reads keepalived's configuration file (see \\fBvipkeeper.conf\\fR(5) for "
        "which keywords act) and runs the VRRP side of keepalived: the same state machine, timers, "
        "adverts, notify scripts and log lines, with processes tracked through the kernel's process "
        "connector and pidfds instead of scans of /proc. The other commands read configurations, "
        "logs and captures, or ask the running daemon; only \\fBrun\\fR, \\fBstatus\\fR and \\fBlab\\fR "
        "need root."),
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

    out += _keepalived_command_line(root)
    out += _signals()

    out += [".SH EXIT STATUS"]
    for name, _command in commands:
        out += [".TP", f"\\fB{code(name)}\\fR", prose(exit_status(name, _command))]
    out += [".PP", "Every command exits 2 on a usage error (an unknown option, a missing argument)."]

    out += [".SH FILES"]
    for path, text in _files():
        out += [".TP", f"\\fI{code(path)}\\fR", prose(text)]

    out += [".SH SERVICE"]
    out += _join_paras(prose(p) for p in [
        (f"The package installs `{SERVICE_UNIT}`, disabled and not started (on a host that runs "
        "keepalived, starting vipkeeper would stop keepalived: the unit conflicts with keepalived.service). "
        f"It starts only when `{CONFIG_FILE}` exists and is not empty, runs "
        "`vipkeeper run --dont-fork $CONFIG_ARGS $DAEMON_ARGS` with both variables from "
        f"`{DEFAULTS_FILE}`, reports readiness to systemd (Type=notify), and reloads with "
        "`vipkeeper check $CONFIG_ARGS` followed by SIGHUP: a file with errors (check exits 1) fails "
        "the reload before the daemon sees it; warnings (exit 5 or 6) are logged and the reload goes "
        "on, since the daemon runs such a file."),
        ("To read another file, set CONFIG_ARGS=\"-f /etc/vipkeeper/vipkeeper.conf\" and add a drop-in "
        "(`systemctl edit vipkeeper`) with `ConditionFileNotEmpty=` (empty, to reset) and "
        "`ConditionFileNotEmpty=/etc/vipkeeper/vipkeeper.conf`."),
        ("The unit keeps only the capabilities the daemon and common notify scripts need "
        "(CAP_NET_ADMIN, CAP_NET_RAW, CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_DAC_OVERRIDE, "
        "CAP_NET_BIND_SERVICE) and makes /usr and /boot read-only and /home read-only; /etc, /var and "
        "/tmp stay writable for notify scripts. `--netns` needs CAP_SYS_ADMIN: add it in a drop-in "
        "(`CapabilityBoundingSet=CAP_SYS_ADMIN`, which adds to the set)."),
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

    out += [".SH SEE ALSO", ("\\fBvipkeeper.conf\\fR(5), \\fBkeepalived\\fR(8), \\fBkeepalived.conf\\fR(5), "
                             "\\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1)")]
    return "\n".join(out) + "\n"


def _keepalived_command_line(root: click.Context) -> list[str]:
    from vipkeeper.daemon.keepalived_cli import keepalived

    ctx = click.Context(keepalived, info_name="vipkeeper", parent=None, **keepalived.context_settings)
    out = [".SH KEEPALIVED COMMAND LINE"]
    out += _join_paras(prose(p) for p in [
        ("`vipkeeper` followed by an option other than -h, --help and --version, or the program run "
        "under the name `keepalived` (a symlink), takes keepalived 2.2.7's command line instead of a "
        "command: a unit, script or runbook written for keepalived (`keepalived --dont-fork "
        "$DAEMON_ARGS`, `keepalived -t -f FILE`, `keepalived -v`, `keepalived --signum=JSON`) runs "
        "unchanged. The options of keepalived's other subsystems are refused with one line and exit "
        "status 1. The package installs no `keepalived` name."),
        *paragraphs(keepalived.help or ""),
    ])
    out += [".PP", "Options:", ".RS"] + _options(keepalived, ctx, skip_help=False) + [".RE"]
    return out


def _signal_name(sig: int) -> str:
    rtmin, rtmax = int(signal.SIGRTMIN), int(signal.SIGRTMAX)
    if rtmin <= sig <= rtmax:
        if sig in (rtmin, rtmax):
            return "SIGRTMIN" if sig == rtmin else "SIGRTMAX"
        return f"SIGRTMIN+{sig - rtmin}" if sig - rtmin <= rtmax - sig else f"SIGRTMAX-{rtmax - sig}"
    return signal.Signals(sig).name


def _signals() -> list[str]:
    from vipkeeper.daemon.runtime import IGNORED_SIGNALS, SIGNUM, STOP_SIGNALS

    out = [".SH SIGNALS", ("The daemon acts on keepalived 2.2.7's signals (the names are keepalived's "
                          "signal functions, as printed by \\fBvipkeeper \\-\\-signum\\fR=\\fINAME\\fR):")]
    for name, sig in SIGNUM.items():
        out += [".TP", f"\\fB{_signal_name(sig)}\\fR ({int(sig)}, {name})", prose(SIGNAL_FUNCTIONS[name])]
    stops = [_signal_name(s) for s in STOP_SIGNALS if s != SIGNUM["STOP"]]
    out += [".TP", ", ".join(f"\\fB{n}\\fR" for n in stops), prose("Stop cleanly, as SIGTERM.")]
    rtmin, rtmax = int(signal.SIGRTMIN), int(signal.SIGRTMAX)
    ignored = [_signal_name(s) for s in IGNORED_SIGNALS if not rtmin <= s <= rtmax]
    realtime = {int(s) for s in IGNORED_SIGNALS if rtmin <= s <= rtmax}
    taken = {int(s) for s in SIGNUM.values() if rtmin <= s <= rtmax}
    if realtime | taken == set(range(rtmin, rtmax + 1)):
        ignored.append(f"every other real-time signal ({rtmin}\u2013{rtmax})")
    else:
        ignored += [_signal_name(s) for s in sorted(realtime)]
    out += [".TP", "Ignored", prose("Logged and ignored, so that no stray signal whose default is to "
                                    "terminate takes the VIPs down uncleanly: " + ", ".join(ignored) + ".")]
    out += [".PP", ("After SIGKILL nothing is released: a Backup takes over when the Master's adverts stop "
                   "(the master\\-down interval), and the VIPs stay on the killed node until vipkeeper "
                   "starts there again and removes them. SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT keep "
                   "their default action: they report a fault in the daemon itself (the Python stack "
                   "of each thread is written to standard error first). The unit's WatchdogSec= "
                   "sends SIGABRT when the event loop stopped running its timers.")]
    return out


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
        (_default_of("run", "config_file"), ("The configuration, in keepalived's language (`vipkeeper.conf`(5)); "
                                            "the default of -f.")),
        (DEFAULTS_FILE, "CONFIG_ARGS and DAEMON_ARGS for the service."),
        (SERVICE_UNIT, "The systemd unit (see SERVICE)."),
        (_default_of("run", "pid_file"), ("The pid file of `vipkeeper run` (-p); the service uses "
                                         "/run/vipkeeper/vipkeeper.pid.")),
        (DEFAULT_PATH, "The control socket `vipkeeper status` asks (root only)."),
        (_default_of("run", "data_file"), "Written on SIGUSR1 (--data-file)."),
        (_default_of("run", "stats_file"), "Written on SIGUSR2 (--stats-file)."),
        (_default_of("run", "json_file"), "Written on keepalived's JSON signal (--json-file)."),
        (_default_of("run", "snapshot_file"), ("vipkeeper's JSON snapshot, also written on SIGUSR1 "
                                              "(--snapshot-file; the same document as `vipkeeper status --json`).")),
    ]


# -- vipkeeper.conf(5) -----------------------------------------------------------------------------

_GROUP_TITLES = {
    "ok": "Acted on",
    "partly": "Partly (see PARTLY SUPPORTED)",
    "ignored": "Ignored",
    "unsupported": "Not supported",
    "refused": "Refused unless opted out",
}


def _classify(table: dict) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {key: [] for key in _GROUP_TITLES}
    for name, spec in table.items():
        if spec.status == "ok":
            groups["partly" if name in PARTIAL else "ok"].append(name)
        else:
            groups["refused" if spec.refuse else spec.status].append(name)
    return groups


def _keyword_list(names: Iterable[str]) -> str:
    return ", ".join(f"\\fB{code(w)}\\fR" for w in sorted(names)) + "."


def _block_sections() -> list[tuple[str, dict]]:
    """(title, table) per block, in the order of the keyword tables; the top level also lists the
    blocks the parser walks with a table of their own (acted on)."""
    from vipkeeper.config import keywords as kw
    from vipkeeper.config.parser import _TOP_BLOCKS

    sections = []
    for block, table in kw.TABLES.items():
        if block == "top level":
            table = {**{name: kw.Keyword(None) for name in _TOP_BLOCKS}, **table}
            title = "TOP LEVEL"
        elif block == "track_file":
            title = "TRACK_FILE, VRRP_TRACK_FILE"
        elif block == "authentication":
            title = "AUTHENTICATION (inside vrrp_instance)"
        else:
            title = block.upper()
        sections.append((title, table))
    return sections


def _noted(table: dict, names: list[str], with_feature: bool) -> list[str]:
    """Keywords that vipkeeper does not act on, grouped by what keepalived would do with them."""
    by_note: dict[str, list[str]] = {}
    for name in names:
        spec = table[name]
        label = f"\\fB{code(name)}\\fR"
        if with_feature and (spec.feature or name) != name:
            label += f" (FEATURE \\fB{code(spec.feature)}\\fR)"
        by_note.setdefault(spec.note, []).append(label)
    out = [".RS"]
    for note, labels in by_note.items():
        out += [".TP", ", ".join(labels), prose(f"keepalived would {note}." if note else "")]
    return out + [".RE"]


def page_conf() -> str:
    from vipkeeper.config import keywords as kw
    from vipkeeper.config.parser import MAX_UNKNOWN

    out = _header("vipkeeper.conf", 5, "File Formats")
    out += [".SH NAME", "vipkeeper.conf \\- the keepalived.conf keywords vipkeeper acts on, ignores and refuses"]
    out += [".SH DESCRIPTION"]
    out += _join_paras(prose(p) for p in [
        (f"vipkeeper reads keepalived 2.2.7's configuration language, by default from `{CONFIG_FILE}`: "
        "`include` (with globs), `$NAME=value` definitions and their use, `@ID` conditional lines "
        "(selected by -i), `~SEQ` sequences, `#` and `!` comments. This page lists, block by block, what "
        "vipkeeper does with each keyword it knows. It is generated from vipkeeper's keyword tables, so it "
        "names exactly the keywords of this version. `vipkeeper check` names every keyword that is not "
        "acted on at its FILE:LINE, with what keepalived would have done."),
        ("Acted on: the keyword has keepalived's meaning, default and range. A value that does not read "
        "(wrong type, out of range) is a warning naming FILE:LINE and the keyword is then ignored, as "
        "keepalived does; a few values make the block unusable and are errors."),
        ("Ignored (severity \"ignored\"): keepalived would act on it, but nothing vipkeeper does needs it "
        "(process tuning, buffer sizes, ...)."),
        ("Not supported (severity \"unsupported\"): keepalived would act on it and vipkeeper does not (mail, "
        "SNMP, start-up scripts, ...); the rest of the configuration runs. A block under the keyword is "
        "not read."),
        ("Refused unless opted out: keepalived would act on it, and running without it would change what "
        "goes on the wire or who holds a VIP (VMAC interfaces, routes and rules, firewall rules, LVS, "
        f"...). It is an error (`vipkeeper check` exits 1, `vipkeeper run` does not start) unless "
        f"global_defs has `{kw.RUN_WITHOUT} FEATURE ...`; then it is reported as unsupported and the "
        "rest runs. FEATURE is the keyword itself unless said otherwise."),
        ("A keyword in none of the lists is unknown: a warning at FILE:LINE (naming the keyword it likely "
        f"misspells), and its block is skipped. A file with more than {MAX_UNKNOWN} unknown keywords is "
        "refused as not a keepalived configuration."),
    ])

    for title, table in _block_sections():
        groups = _classify(table)
        out += [f'.SH "{code(title)}"']
        for key in ("ok", "partly"):
            if groups[key]:
                out += [".TP", _GROUP_TITLES[key], _keyword_list(groups[key])]
        for key in ("ignored", "unsupported", "refused"):
            if groups[key]:
                out += [".PP", _GROUP_TITLES[key] + ":"] + _noted(table, groups[key], key == "refused")

    out += [".SH PARTLY SUPPORTED"]
    for name, text in PARTIAL.items():
        out += [".TP", f"\\fB{code(name)}\\fR", prose(text) + "."]
    out += [".SH VIPKEEPER'S OWN KEYWORDS"]
    for name, text in [
        ("fast_handover", ("In vrrp_instance: for a pair, take over at once on a priority-0 advert "
                          "instead of waiting the skew time (a unicast instance with one peer does this "
                          "by itself). keepalived does not know it: keep it out of files keepalived reads.")),
        ("control_socket", "In global_defs: the path of the control socket `vipkeeper status` asks."),
        ("metrics_listen", "In global_defs: ADDRESS:PORT to serve Prometheus metrics on (off by default)."),
        (kw.RUN_WITHOUT, ("In global_defs: FEATURE ... that vipkeeper may run without (see above); "
                         "each is then reported as unsupported instead of refused.")),
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
