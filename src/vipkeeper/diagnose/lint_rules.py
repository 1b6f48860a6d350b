"""The lint rules: keepalived configurations that end in split brain, or in a tracker that lies.

Rules of this module
- One small function per rule, registered in `RULES` with its id, severity and title. A rule
  takes the nodes (one per config file) and yields findings; node rules look at one node at a
  time, cluster rules compare nodes and only run when there are several.
- Ids are stable: VK0xx reading the config, VK1xx trackers and scripts, VK2xx one instance or
  node, VK3xx across nodes. `vipkeeper lint --rules` prints the table.
- Pure: all disk facts come in through `lint_input`. The wording of messages follows
  keepalived's behaviour as recorded in research/keepalived-notes.md.

Theory of operation: `run(nodes)` calls every rule and returns the findings sorted by place.
Instances of different nodes are paired by name first, then by (VRID, interface), so a renamed
instance is still compared with its peer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations

from vipkeeper.config.model import (
    Config,
    Diagnostic,
    Instance,
    TrackProcess,
    VirtualAddress,
    VirtualRule,
    VrrpScript,
    Where,
)
from vipkeeper.vrrp.garp_extra_if import extra_if_targets
from vipkeeper.witness.explain import key_for

from .findings import Finding, Level
from .lint_input import Node, ScriptFacts, tracked
from .script_scan import program_names

RuleFn = Callable[[list[Node]], Iterator[Finding]]

SLOW_STARTERS = frozenset({
    "haproxy", "master", "postfix", "nginx", "java", "mysqld", "mariadbd", "postgres", "httpd",
    "apache2", "named", "squid", "varnishd", "slapd", "php-fpm", "node", "dotnet", "redis-server",
    "envoy", "traefik", "dovecot", "exim4", "sendmail", "tomcat", "jsvc", "pound", "unbound",
})
MAX_V2_VIPS = 20


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Level
    title: str
    scope: str  # "node" or "cluster"
    check: RuleFn


RULES: list[Rule] = []


def rule(id: str, severity: Level, title: str, scope: str = "node") -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        RULES.append(Rule(id, severity, title, scope, fn))
        return fn

    return register


def _f(r: str, where: Where, message: str, fix: str, related: tuple[Where, ...] = (),
       severity: Level | None = None) -> Finding:
    sev = severity or next(x.severity for x in RULES if x.id == r)
    return Finding(r, sev, where, message, fix, related)


def _script_user(config: Config, script: VrrpScript, node: Node) -> tuple[str, str]:
    """The user keepalived runs `script` as, and why (keepalived-notes §5)."""
    if script.user:
        return script.user, "its `user`"
    if config.global_defs.script_user:
        return config.global_defs.script_user, "global script_user"
    if node.users is not None and "keepalived_script" in node.users:
        return "keepalived_script", "user keepalived_script exists"
    if node.users is None:
        return "root?", "no script_user (root unless user keepalived_script exists)"
    return "root", "no script_user and no keepalived_script user"


def _runs_as_root(user: str) -> bool:
    return user in ("root", "0", "root?")


def _script_weight(config: Config, script: VrrpScript) -> set[int]:
    """The weights a script gets across the instances that track it (the script's own if none)."""
    weights = set()
    for inst in config.instances:
        for ref in tracked(config, inst, "track_script"):
            if ref.name == script.name:
                weights.add(script.weight if ref.weight is None else ref.weight)
    return weights or {script.weight}


def _process_names(tp: TrackProcess) -> frozenset[str]:
    return program_names(tp.process)


def _where_in_script(facts: ScriptFacts, script: VrrpScript, line: int, from_command: bool) -> Where:
    if from_command or not facts.resolved:
        return script.where
    return Where(facts.resolved, line)


# ---------------------------------------------------------------- VK0xx: reading the config

# Parser diagnostics that a specific rule reports under its own id (and VK002 then leaves alone).
CLAIMED: dict[str, tuple[str, ...]] = {
    "VK201": ("'vrrp_version'",),
    "VK202": ("nopreempt will not work with initial state MASTER", "preempt delay will not work with initial state"),
    "VK207": ("VRRPv2 advertisement interval",),
    "VK208": ("authentication is not part of VRRPv3",),
    "VK209": ("Strict mode does not support authentication",),
    "VK212": ("iptables not supported, using nftables instead",),
}


def _claimed_by(message: str) -> str | None:
    return next((rid for rid, needles in CLAIMED.items() if any(n in message for n in needles)), None)


def _claimed(node: Node, rid: str) -> Iterator[Diagnostic]:
    for d in node.config.diagnostics:
        if d.severity in ("warning", "error") and _claimed_by(d.message) == rid:
            yield d

@rule("VK000", "error", "configuration cannot be read at all (the ConfigError one-liner)")
def unreadable(nodes: list[Node]) -> Iterator[Finding]:
    """Reported by lint.lint_files before any rule runs; listed here so --rules shows it."""
    return iter(())


@rule("VK001", "error", "configuration has errors keepalived would refuse")
def config_errors(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for d in node.config.diagnostics:
            if d.severity == "error" and _claimed_by(d.message) is None:
                yield _f("VK001", d.where, d.message, "correct the line; `vipkeeper check FILE` shows all errors")


@rule("VK002", "warning", "keyword keepalived ignores (unknown or misplaced)")
def ignored_keywords(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for d in node.config.diagnostics:
            if d.severity == "warning" and _claimed_by(d.message) is None:
                yield _f("VK002", d.where, d.message,
                         "fix the spelling or move the keyword to its block; keepalived skips it silently")


@rule("VK003", "info", "keyword vipkeeper does not implement")
def unsupported_keywords(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for d in node.config.diagnostics:
            if d.severity == "unsupported":  # "ignored" keywords change nothing: not a finding
                yield _f("VK003", d.where, d.message, "none needed for keepalived; vipkeeper ignores it")


# ---------------------------------------------------------------- VK1xx: trackers and scripts

@rule("VK101", "warning", "same process watched twice (vrrp_track_process and a check script)")
def duplicate_monitoring(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        cfg = node.config
        seen: set[tuple[str, str]] = set()
        for inst in cfg.instances:
            procs = [cfg.track_process(r.name) for r in tracked(cfg, inst, "track_process")]
            procs_ok = [p for p in procs if p is not None]
            for ref in tracked(cfg, inst, "track_script"):
                script = cfg.script(ref.name)
                facts = node.scripts.get(ref.name)
                if script is None or facts is None:
                    continue
                for from_command, checks in ((True, facts.command_checks), (False, facts.checks)):
                    for check in checks:
                        for tp in procs_ok:
                            hit = next((n for n in check.names if program_names(n) & _process_names(tp)), None)
                            if hit is None or (script.name, tp.name) in seen:
                                continue
                            seen.add((script.name, tp.name))
                            where = _where_in_script(facts, script, check.line, from_command)
                            yield _f(
                                "VK101", script.where,
                                f"({inst.name}) process '{tp.process}' is watched twice: by vrrp_track_process "
                                f"{tp.name} ({tp.where}) and by vrrp_script {script.name} ({check.tool} "
                                f"{hit} at {where}); the two disagree during restarts and races, "
                                "and the VIP moves on the worse answer",
                                f"keep vrrp_track_process {tp.name} and remove the {hit} check from the script "
                                f"(or drop {script.name} from track_script)",
                                related=(tp.where, where),
                            )


@rule("VK102", "error", "check script parses pidof/pgrep/ps output instead of the exit status")
def output_parsing(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for name, facts in node.scripts.items():
            script = node.config.script(name)
            if script is None:
                continue
            for from_command, checks in ((True, facts.command_checks), (False, facts.checks)):
                for check in checks:
                    if not check.output_parsed or check.tool not in ("pidof", "pgrep", "ps|grep"):
                        continue
                    target = " ".join(check.names)
                    where = _where_in_script(facts, script, check.line, from_command)
                    how = ("`ps | grep` also matches itself and short-lived children"
                           if check.tool == "ps|grep" else
                           f"{check.tool} races with exiting processes (\"can't read from /proc/NNN/stat\") "
                           "and an empty answer then reads as 'service down'")
                    yield _f(
                        "VK102", where,
                        f"vrrp_script {name}: `{check.text}` judges {target} by {check.tool}'s output; {how}",
                        f"track the process with vrrp_track_process (with `delay`), or call "
                        f"`vipkeeper pidcheck {target}` and use its exit status",
                        related=(script.where,) if where != script.where else (),
                    )


@rule("VK103", "warning", "pidof without -q")
def pidof_without_q(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for name, facts in node.scripts.items():
            script = node.config.script(name)
            if script is None:
                continue
            for from_command, checks in ((True, facts.command_checks), (False, facts.checks)):
                for check in checks:
                    if check.tool != "pidof" or check.quiet or check.output_parsed:
                        continue
                    where = _where_in_script(facts, script, check.line, from_command)
                    yield _f(
                        "VK103", where,
                        f"vrrp_script {name}: `{check.text}` runs pidof without -q; its /proc scan can race "
                        "with exiting processes and print warnings keepalived discards",
                        f"use vrrp_track_process, or `vipkeeper pidcheck {' '.join(check.names)}`; "
                        "at least `pidof -q`",
                    )


@rule("VK104", "warning", "vrrp_track_process without delay for a slow-starting service")
def track_process_without_delay(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for tp in node.config.track_processes:
            if tp.fork_delay or tp.terminate_delay:
                continue
            names = _process_names(tp)
            if not names & SLOW_STARTERS:
                continue
            yield _f(
                "VK104", tp.where,
                f"vrrp_track_process {tp.name} ({tp.process}) has no delay: a restart or reload of "
                f"{tp.process} drops quorum for a moment and moves the VIP",
                "add `delay 1` (or `terminate_delay`) to the block so a restart is ridden out",
            )


@rule("VK105", "warning", "script timeout not shorter than its interval")
def timeout_vs_interval(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for s in node.config.scripts:
            if s.timeout is not None and s.timeout >= s.interval:
                yield _f(
                    "VK105", s.where,
                    f"vrrp_script {s.name}: timeout {s.timeout:g}s >= interval {s.interval:g}s; a hung "
                    "check makes keepalived skip runs ('is already running ... skipping run')",
                    f"set timeout below the interval (e.g. timeout {max(s.interval / 2, 0.5):g})",
                )


@rule("VK106", "warning", "flapping-prone check without rise/fall")
def missing_rise_fall(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for s in node.config.scripts:
            if s.rise != 1 or s.fall != 1:
                continue
            weights = _script_weight(node.config, s)
            weighted = any(w != 0 for w in weights)
            if not (weighted or s.interval < 2):
                continue
            why = "a weighted check" if weighted else f"a check every {s.interval:g}s"
            yield _f(
                "VK106", s.where,
                f"vrrp_script {s.name}: {why} with rise 1 / fall 1 moves the VIP on a single failed run",
                "add `fall 2` and `rise 2` (or more) to the vrrp_script block",
            )


@rule("VK107", "warning", "script interval under one second")
def short_interval(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for s in node.config.scripts:
            if s.interval < 1:
                yield _f(
                    "VK107", s.where,
                    f"vrrp_script {s.name}: interval {s.interval:g}s forks a script {1 / s.interval:.0f} times a "
                    "second; under load runs overlap, time out and flap",
                    "use interval 1 or more, or vrrp_track_process for a process (event driven)",
                )


@rule("VK108", "error", "script writable by a non-root user while it runs as root")
def writable_script(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        cfg = node.config
        secure = cfg.global_defs.enable_script_security
        for name, facts in node.scripts.items():
            script = cfg.script(name)
            if script is None or not facts.components:
                continue
            user, _ = _script_user(cfg, script, node)
            if not _runs_as_root(user):
                continue
            for comp in facts.components:
                reason = None
                if comp.mode & 0o002 and not (comp.is_dir and comp.mode & 0o1000):
                    reason = "world-writable"
                elif comp.mode & 0o020 and comp.gid != 0 and not (comp.is_dir and comp.mode & 0o1000):
                    reason = "group-writable by a non-root group"
                elif comp.uid != 0 and facts.how != "beside-config" and facts.how != "root":
                    reason = f"owned by uid {comp.uid}"
                if reason is None:
                    continue
                kind = "directory" if comp.is_dir else "script"
                if secure:
                    message = (f"vrrp_script {name}: {kind} {comp.path} is {reason}; with enable_script_security "
                               f"keepalived logs 'Unsafe permissions found for script' and disables the "
                               "check: the instance then never fails over for it")
                    yield _f("VK108", script.where, message,
                             f"chown root:root {comp.path} && chmod go-w {comp.path}")
                else:
                    message = (f"vrrp_script {name}: {kind} {comp.path} is {reason} and the script runs as "
                               "root: anyone who can write it owns the machine")
                    yield _f("VK108", script.where, message,
                             f"chown root:root {comp.path} && chmod go-w {comp.path}; add enable_script_security",
                             severity="warning")
                break


@rule("VK109", "warning", "no usable script user: scripts silently run as root")
def no_script_user(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        cfg = node.config
        if not cfg.scripts or cfg.global_defs.script_user:
            continue
        if node.users is None or "keepalived_script" in node.users:
            continue
        yet = [s for s in cfg.scripts if not s.user]
        if not yet:
            continue
        extra = (" and enable_script_security then checks every path as root's: one writable "
                 "directory disables the check" if cfg.global_defs.enable_script_security else "")
        yield _f(
            "VK109", yet[0].where,
            f"no script_user in global_defs and no user keepalived_script ({node.users_source}): keepalived "
            f"logs \"Script user 'keepalived_script' does not exist\" and runs {', '.join(s.name for s in yet)} "
            f"as root{extra}",
            "create a system user keepalived_script (useradd -r -s /usr/sbin/nologin keepalived_script) "
            "or set `script_user NAME` in global_defs",
        )


@rule("VK110", "info", "scripts without enable_script_security")
def no_script_security(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        cfg = node.config
        if cfg.scripts and not cfg.global_defs.enable_script_security:
            yield _f(
                "VK110", cfg.scripts[0].where,
                "scripts are configured without enable_script_security: keepalived logs 'SECURITY VIOLATION - "
                "scripts are being executed but script_security not enabled.' at every start",
                "add `enable_script_security` to global_defs (and make the scripts root-owned, not writable)",
            )


@rule("VK111", "warning", "check script missing or not executable")
def script_missing(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for name, facts in node.scripts.items():
            script = node.config.script(name)
            if script is None or facts.how == "inline" or facts.path is None:
                continue
            if facts.resolved is None:
                yield _f(
                    "VK111", script.where,
                    f"vrrp_script {name}: {facts.path} not found (tried {', '.join(facts.tried)}); its "
                    "contents were not checked. keepalived disables a missing script ('Cannot find script')",
                    "check the path on the server, or pass --root DIR pointing at a copy of its filesystem",
                    severity="info",
                )
            elif facts.executable is False:
                yield _f(
                    "VK111", script.where,
                    f"vrrp_script {name}: {facts.resolved} is not executable; keepalived logs 'not executable "
                    "... disabling' and the instance no longer tracks it",
                    f"chmod 755 {facts.path}, or run it through the shell: script \"/bin/sh {facts.path}\"",
                )
            elif facts.how == "beside-config":
                yield _f(
                    "VK111", script.where,
                    f"vrrp_script {name}: {facts.path} read from {facts.resolved} (found by name next to the "
                    "config); its owner and directories on the server were not checked",
                    "pass --root DIR with a copy of the server's filesystem to check permissions too",
                    severity="info",
                )


@rule("VK112", "warning", "weighted tracker on an address owner (priority 255) has no effect")
def weight_on_owner(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        cfg = node.config
        for inst in cfg.instances:
            if inst.priority != 255:
                continue
            for kind, lookup in (("track_script", cfg.script), ("track_process", cfg.track_process)):
                for ref in tracked(cfg, inst, kind):
                    target = lookup(ref.name)
                    weight = ref.weight if ref.weight is not None else getattr(target, "weight", 0)
                    if weight:
                        yield _f(
                            "VK112", ref.where,
                            f"({inst.name}) {kind} {ref.name} has weight {weight}, but an address owner's "
                            "priority never changes: the owner keeps the VIP when the service dies",
                            "use weight 0 (the owner then goes FAULT and hands over) or a priority below 255",
                        )


# ---------------------------------------------------------------- VK2xx: one instance / one node

@rule("VK201", "error", "vrrp_version inside vrrp_instance (keepalived ignores it)")
def vrrp_version_in_instance(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        reported: set[Where] = set()
        for d in _claimed(node, "VK201"):
            reported.add(d.where)
            yield _f("VK201", d.where,
                     "`vrrp_version` is a global_defs keyword; inside an instance keepalived logs \"Unknown "
                     "keyword 'vrrp_version'\" and speaks VRRPv2 (advert_int rounded to whole seconds)",
                     "write `version 3` inside the vrrp_instance, or `vrrp_version 3` in global_defs")
        for inst in node.config.instances:
            for key, _ in inst.extras:
                if key == "vrrp_version" and not reported:
                    yield _f("VK201", inst.where,
                             f"({inst.name}) `vrrp_version` inside an instance is ignored by keepalived, which "
                             "speaks VRRPv2 there",
                             "write `version 3` inside the vrrp_instance")


@rule("VK202", "warning", "nopreempt or preempt_delay with state MASTER")
def nopreempt_master(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for d in _claimed(node, "VK202"):
            what = "nopreempt" if "nopreempt" in d.message else "preempt_delay"
            yield _f("VK202", d.where,
                     f"{d.message.split(')')[0]}) {what} only works when the initial state is BACKUP; with state "
                     "MASTER this node grabs the VIP back on every restart",
                     "set `state BACKUP` on every node that uses nopreempt/preempt_delay")
        if any(True for _ in _claimed(node, "VK202")):
            continue
        for inst in node.config.instances:
            if inst.state == "MASTER" and (inst.nopreempt or inst.preempt_delay):
                what = "nopreempt" if inst.nopreempt else "preempt_delay"
                yield _f("VK202", inst.where,
                         f"({inst.name}) {what} only works when the initial state is BACKUP; with state MASTER "
                         "this node grabs the VIP back on every restart",
                         "set `state BACKUP` on every node that uses nopreempt/preempt_delay")


@rule("VK203", "error", "one VRID used twice on one interface")
def vrid_reused(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        seen: dict[tuple[str, int, int], Instance] = {}
        for inst in node.config.instances:
            key = (inst.interface, inst.virtual_router_id, inst.family)
            other = seen.get(key)
            if other is not None:
                yield _f("VK203", inst.where,
                         f"({inst.name}) VRID {inst.virtual_router_id} on {inst.interface} is already used by "
                         f"{other.name} ({other.where}); the two instances take each other's adverts",
                         "give each instance on an interface its own virtual_router_id",
                         related=(other.where,))
            else:
                seen[key] = inst


@rule("VK204", "error", "vrrp_strict / strict_mode with unicast peers")
def strict_unicast(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for inst in node.config.instances:
            strict = inst.strict_mode or node.config.global_defs.vrrp_strict
            if strict and inst.is_unicast:
                yield _f("VK204", inst.where,
                         f"({inst.name}) strict mode does not allow unicast peers: keepalived rejects the "
                         "combination",
                         "remove vrrp_strict/strict_mode, or use multicast")
            if strict and inst.authentication is not None:
                yield _f("VK204", inst.authentication.where,
                         f"({inst.name}) strict mode does not allow authentication", "remove the authentication block")


@rule("VK205", "warning", "more than 20 VIPs in one VRRPv2 advert")
def many_vips(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for inst in node.config.instances:
            if inst.version == 2 and len(inst.virtual_ipaddress) > MAX_V2_VIPS:
                yield _f("VK205", inst.where,
                         f"({inst.name}) {len(inst.virtual_ipaddress)} addresses in virtual_ipaddress; adverts "
                         f"carry at most {MAX_V2_VIPS} and peers compare the lists",
                         "move all but a few to virtual_ipaddress_excluded")


@rule("VK206", "warning", "VIP outside the subnet of the instance's source address")
def vip_subnet(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for inst in node.config.instances:
            src = inst.source_address
            if src is None:
                continue
            for vip in inst.virtual_ipaddress:
                if vip.dev not in (None, inst.interface) or vip.family != src.version:
                    continue
                if vip.address.network.prefixlen == vip.address.max_prefixlen:
                    continue  # a /32 says nothing about the subnet
                if src not in vip.address.network:
                    yield _f("VK206", vip.where,
                             f"({inst.name}) VIP {vip.address} is not in the subnet of {inst.interface}'s "
                             f"address {src}: neighbours may not take its gratuitous ARPs",
                             "check the VIP's prefix, or give it the interface's subnet (or /32)")


@rule("VK207", "warning", "VRRPv2 advert_int not a whole number of seconds")
def fractional_v2_interval(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for d in _claimed(node, "VK207"):
            yield _f("VK207", d.where, f"{d.message}: the VRRPv2 packet carries whole seconds",
                     "use `version 3` for sub-second adverts, or a whole number")
        for inst in node.config.instances:
            if inst.version == 2 and inst.advert_int != int(inst.advert_int):
                yield _f("VK207", inst.where,
                         f"({inst.name}) advert_int {inst.advert_int:g} with VRRPv2: the packet carries whole "
                         "seconds, keepalived rounds it",
                         "use `version 3` for sub-second adverts, or a whole number")


@rule("VK208", "warning", "authentication with VRRPv3 (ignored) or a password over 8 characters")
def auth_oddities(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for d in _claimed(node, "VK208"):
            yield _f("VK208", d.where, f"{d.message}: VRRPv3 has no authentication field",
                     "remove the authentication block (or use version 2 on every node)")
        for inst in node.config.instances:
            auth = inst.authentication
            if auth is None:
                continue
            if inst.version == 3:
                yield _f("VK208", auth.where,
                         f"({inst.name}) VRRPv3 has no authentication; keepalived ignores the block",
                         "remove the authentication block (or use version 2 on every node)")
            elif len(auth.auth_pass) > 8:
                yield _f("VK208", auth.where,
                         f"({inst.name}) auth_pass is {len(auth.auth_pass)} characters; keepalived uses the "
                         "first 8, a peer that does not truncate will disagree",
                         "use at most 8 characters", severity="info")


@rule("VK209", "warning", "vrrp_strict with PASS authentication (keepalived drops the authentication)")
def strict_with_auth(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for d in _claimed(node, "VK209"):
            yield _f("VK209", d.where,
                     f"{d.message.rstrip('.')}: this node's adverts carry no password, so a peer without strict mode "
                     "that expects one drops them all and both nodes become Master",
                     "remove the authentication block on every node, or remove vrrp_strict on every node")


@rule("VK210", "warning", "smtp_alert without notification_email or smtp_server (no mail is ever sent)")
def mail_without_server(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        g = node.config.global_defs
        alerting = [i for i in node.config.instances if i.smtp_alert] + [s for s in node.config.sync_groups
                                                                         if s.smtp_alert]
        if alerting and (not g.notification_email or g.smtp_server is None):
            missing = "notification_email" if not g.notification_email else "smtp_server"
            yield _f("VK210", alerting[0].where,
                     f"smtp_alert is on for {', '.join(a.name for a in alerting)} but global_defs has no "
                     f"{missing}: keepalived (and vipkeeper) silently send no mail",
                     f"add {missing} to global_defs, or drop smtp_alert")


def _accepts(inst: Instance) -> bool:
    return inst.priority == 255 or (inst.accept if inst.accept is not None else not inst.strict_mode)


@rule("VK211", "info", "no accept mode without nftables: the Master still answers for its VIPs")
def strict_without_firewall(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        if node.config.global_defs.nftables is not None:
            continue
        for inst in node.config.instances:
            if not _accepts(inst):
                yield _f("VK211", inst.where,
                         f"({inst.name}) runs without accept mode (vrrp_strict or no_accept), but without "
                         "`nftables` nothing drops traffic to its VIPs: the Master answers it anyway",
                         "add `nftables` to global_defs to enforce it, or `accept` to say it is wanted",
                         severity="info")


@rule("VK212", "info", "vrrp_iptables: keepalived 2.2.7 (Debian) uses its nftables table instead")
def iptables_is_nftables(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for d in _claimed(node, "VK212"):
            yield _f("VK212", d.where, f"{d.message} (table ip/ip6 'keepalived'; no iptables chains are made)",
                     "write `nftables` instead of vrrp_iptables")
        g = node.config.global_defs
        if g.nftables is not None and node.config.instances and all(_accepts(i) for i in node.config.instances):
            yield _f("VK212", node.config.instances[0].where,
                     f"`nftables` table {g.nftables} will drop nothing: every instance is in accept mode or owns "
                     "its addresses (keepalived only drops for a Master without accept mode)",
                     "drop `nftables`, or use vrrp_strict / no_accept where the RFC's accept rule is wanted",
                     severity="info")


@rule("VK213", "info", "vrrp_rt_priority without vrrp_no_swap, or vrrp_priority ignored beside it")
def realtime_half_done(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        g = node.config.global_defs
        first = node.config.instances[0].where if node.config.instances else Where(node.config.files[0], 1)
        if g.vrrp_rt_priority is not None and not g.vrrp_no_swap:
            yield _f("VK213", first,
                     f"vrrp_rt_priority {g.vrrp_rt_priority} without vrrp_no_swap: a real-time daemon can still "
                     "stall on a page fault under memory pressure and miss its adverts",
                     "add vrrp_no_swap to global_defs", severity="info")
        if g.vrrp_rt_priority is not None and g.vrrp_priority is not None:
            yield _f("VK213", first,
                     f"vrrp_priority {g.vrrp_priority} has no effect beside vrrp_rt_priority (keepalived applies "
                     "the nice value only without real-time scheduling)",
                     "remove vrrp_priority", severity="info")


@rule("VK214", "warning", "interface_up_down_delays longer than (down_timer_adverts - 1) x advert_int")
def link_delay_too_long(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for ifname, down, up in node.config.interface_up_down_delays:
            for inst in node.config.instances:
                limit = (inst.down_timer_adverts - 1) * inst.advert_int
                if inst.interface == ifname and max(down, up) >= limit:
                    yield _f("VK214", inst.where,
                             f"({inst.name}) interface_up_down_delays {ifname} {down:g} {up:g} is not shorter than "
                             f"{limit:g}s ((down_timer_adverts - 1) x advert_int): a Backup stops hearing this "
                             "node and takes over before it enters FAULT - both Master for a while (keepalived "
                             "lowers the delay itself; vipkeeper does not)",
                             f"keep the delays of {ifname} under {limit:g}s")


# ---------------------------------------------------------------- VK3xx: across nodes

@rule("VK215", "warning", "use_vmac (IPv4) relies on arp_announce=2 on the parent, which keepalived does not set")
def vmac_arp_announce(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for inst in node.config.instances:
            if inst.use_vmac is not None and inst.family == 4:  # an ipvlan has no virtual MAC to undo
                yield _f("VK215", inst.where,
                         f"({inst.name}) use_vmac: keepalived sets arp_ignore and arp_filter on {inst.interface} but "
                         f"not arp_announce, so the Master's own ARP requests (sent from {inst.interface} with "
                         "the VIP as sender) teach clients the parent's MAC for the VIP, undoing the VMAC "
                         "(measured with keepalived 2.2.7; vipkeeper sets it itself)",
                         f"set net.ipv4.conf.{inst.interface}.arp_announce=2 (and keep arp_ignore=1, "
                         f"arp_filter=1) in /etc/sysctl.d on every node")
            # the same for the parents of IPv4 address VMACs (use_vmac_addr, a VIP's use_vmac)
            for name, parent, family in inst.address_vmacs:
                if family == 4 and not (parent == inst.interface and inst.use_vmac is not None and inst.family == 4):
                    yield _f("VK215", inst.where,
                             f"({inst.name}) VMAC {name} on {parent} (use_vmac_addr): keepalived sets arp_ignore "
                             f"and arp_filter on {parent} but not arp_announce, so the Master's own ARP requests "
                             f"from {parent} can teach clients {parent}'s MAC for the VIPs on {name} (vipkeeper "
                             "sets it itself)",
                             f"set net.ipv4.conf.{parent}.arp_announce=2 (and keep arp_ignore=1, arp_filter=1) in "
                             "/etc/sysctl.d on every node")


def _shared_tables(config: Config) -> dict[int, int]:
    """How many places (instances, static_routes) put routes into each table."""
    users: dict[int, int] = {}
    for inst in config.instances:
        for table in {r.table for r in inst.virtual_routes}:
            users[table] = users.get(table, 0) + 1
    for table in {r.table for r in config.static_routes}:
        users[table] = users.get(table, 0) + 1
    return users


@rule("VK216", "warning", "tracked virtual route in a shared table (no no_track)")
def tracked_route_shared_table(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        users = _shared_tables(node.config)
        for inst in node.config.instances:
            for route in inst.virtual_routes:
                if route.no_track or route.dev is None:
                    continue  # keepalived tracks only routes with a device
                if route.table != 254 and users.get(route.table, 0) < 2:
                    continue
                table = "main" if route.table == 254 else f"{route.table}, which other entries also use"
                yield _f("VK216", route.where,
                         f"({inst.name}) route '{route.text}' goes into table {table} without no_track: "
                         "keepalived (and vipkeeper, which tracks as it does) takes the instance out of MASTER "
                         "when anything else (DHCP client, NetworkManager, another instance, an admin) deletes "
                         "or replaces it",
                         "add no_track, or give the instance's routes a table of their own")


@rule("VK220", "info", "use_ipvlan keeps the node's own MAC: the VIP's MAC moves at every failover")
def ipvlan_mac_moves(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for inst in node.config.instances:
            if inst.use_ipvlan is not None:
                yield _f("VK220", inst.where,
                         f"({inst.name}) use_ipvlan: an ipvlan shares {inst.interface}'s MAC (the kernel gives it "
                         "no MAC of its own), so after each failover clients and switches see the VIP at another "
                         "MAC, exactly as without it; only use_vmac keeps one virtual MAC across nodes",
                         "use use_vmac where clients or switches must not see the VIP's MAC move")


@rule("VK221", "warning", "track_group on a static entry that adds no tracking to a member instance")
def track_group_no_effect(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        config = node.config
        members = {g.name: g.instances for g in config.track_groups}
        entries = [*config.static_addresses, *config.static_routes, *config.static_rules]
        for entry in entries:
            if entry.track_group is None or entry.no_track:
                continue  # no_track with track_group: the parser says it already
            if isinstance(entry, VirtualAddress):
                ifname = entry.dev or config.global_defs.default_interface
            else:
                ifname = entry.iif if isinstance(entry, VirtualRule) else entry.dev
            if isinstance(entry, VirtualRule) and ifname is None:
                yield _f("VK221", entry.where,
                         f"static rule with track_group {entry.track_group} names no iif: keepalived (and "
                         "vipkeeper) then track nothing for it",
                         "add `iif IFNAME` to the rule, or drop track_group")
                continue
            for name in members.get(entry.track_group, ()):
                inst = config.instance(name)
                if inst is not None and ifname == inst.interface and not inst.dont_track_primary:
                    yield _f("VK221", entry.where,
                             f"({name}) track_group {entry.track_group} on an entry on {ifname}, the instance's own "
                             "interface, which it tracks already: the group changes nothing for it",
                             "drop track_group here: the instance goes to FAULT when its own interface is down "
                             "anyway")


@rule("VK222", "warning", "garp_extra_if that never sends (no VIP on another interface, or none a VMAC without all)")
def garp_extra_if_idle(nodes: list[Node]) -> Iterator[Finding]:
    for node in nodes:
        for inst in node.config.instances:
            if inst.garp_extra_if <= 0:
                continue
            own = inst.vmac_interface or inst.interface
            names = []
            for entry in inst.virtual_ipaddress + inst.virtual_ipaddress_excluded:
                dev = entry.dev or inst.interface
                if inst.vmac_interface and entry.family == inst.family and dev == inst.interface:
                    dev = inst.vmac_interface  # on the VMAC, as vips_of puts it
                names.append(entry.vmac or dev)  # an address VMAC (use_vmac_addr) is one of ours
            ours = {name for name, _, _ in inst.address_vmacs}
            if inst.vmac_interface:
                ours.add(inst.vmac_interface)
            if extra_if_targets(names, str, own, ours, inst.garp_extra_if_all, inst.vmac_xmit_base):
                continue
            others = sorted({n for n in names if n != own})
            why = (f"its other interfaces ({', '.join(others)}) are no VMACs and `all` is not given" if others
                   else f"every VIP is on {own}, which its adverts already keep fresh")
            yield _f("VK222", inst.where,
                     f"({inst.name}) garp_extra_if {inst.garp_extra_if:g} never sends a GARP/NA: {why} "
                     "(keepalived 2.2.7 switches it off silently; so does vipkeeper)",
                     "add `all` (garp_extra_if all N) to refresh the other interfaces" if others
                     else "remove garp_extra_if, or put the VIPs it should refresh on their interface with dev")


@rule("VK312", "error", "use_vmac on one node of a pair only", "cluster")
def vmac_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        if (ia.use_vmac is None) != (ib.use_vmac is None):  # an ipvlan carries the node's own MAC
            with_vmac, node = (ia, a) if ia.use_vmac is not None else (ib, b)
            other = ib if with_vmac is ia else ia
            yield _f("VK312", other.where,
                     f"({other.name}) uses no VMAC while its peer in {node.label} does: at every failover the "
                     "VIP's MAC changes between the virtual one and this node's own, which is what use_vmac is "
                     "there to prevent", "use use_vmac on every node of the instance, or on none",
                     related=(with_vmac.where,))


def _pairs(nodes: list[Node]) -> Iterator[tuple[Node, Instance, Node, Instance]]:
    """Same instance on two nodes: by name, else by (VRID, interface, family)."""
    for a, b in combinations(nodes, 2):
        used_b: set[str] = set()
        for ia in a.config.instances:
            ib = b.config.instance(ia.name)
            if ib is None:
                ib = next((x for x in b.config.instances
                           if x.virtual_router_id == ia.virtual_router_id and x.interface == ia.interface
                           and x.family == ia.family and a.config.instance(x.name) is None), None)
            if ib is not None and ib.name not in used_b:
                used_b.add(ib.name)
                yield a, ia, b, ib


def _vips(inst: Instance) -> frozenset[str]:
    return frozenset(str(v.address) for v in inst.virtual_ipaddress)


@rule("VK301", "error", "same instance with different virtual_router_id", "cluster")
def vrid_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        if ia.virtual_router_id != ib.virtual_router_id:
            yield _f("VK301", ib.where,
                     f"({ib.name}) VRID {ib.virtual_router_id} here but {ia.virtual_router_id} on {a.label} "
                     f"({ia.where}): the nodes never hear each other and both become MASTER",
                     "use one virtual_router_id for the instance on every node", related=(ia.where,))


@rule("VK302", "error", "same instance with different VRRP version", "cluster")
def version_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        if ia.version != ib.version:
            yield _f("VK302", ib.where,
                     f"({ib.name}) VRRPv{ib.version} here but v{ia.version} on {a.label}: adverts of the other "
                     "version are dropped, both nodes become MASTER",
                     "use the same `version` on every node", related=(ia.where,))


@rule("VK303", "error", "same instance with different advert_int", "cluster")
def interval_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        if ia.advert_int != ib.advert_int:
            v2 = ia.version == 2 and ib.version == 2
            yield _f("VK303", ib.where,
                     f"({ib.name}) advert_int {ib.advert_int:g} here but {ia.advert_int:g} on {a.label}: "
                     + ("VRRPv2 drops such adverts ('advertisement interval mismatch'), both become MASTER"
                        if v2 else "VRRPv3 backups adopt the master's interval, takeover times differ"),
                     "use one advert_int on every node", related=(ia.where,),
                     severity="error" if v2 else "warning")


@rule("VK304", "error", "same instance with different authentication", "cluster")
def auth_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        ka = (ia.authentication.auth_type, ia.authentication.auth_pass[:8]) if ia.authentication else None
        kb = (ib.authentication.auth_type, ib.authentication.auth_pass[:8]) if ib.authentication else None
        if ka != kb and not (ia.version == 3 and ib.version == 3):
            yield _f("VK304", ib.where,
                     f"({ib.name}) authentication differs from {a.label}'s ({ia.where}): adverts fail the "
                     "check and are dropped, both nodes become MASTER",
                     "use the same authentication block (auth_type and auth_pass) on every node",
                     related=(ia.where,))


@rule("VK305", "error", "same instance with different VIPs", "cluster")
def vip_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        va, vb = _vips(ia), _vips(ib)
        if va != vb:
            only_a = ", ".join(sorted(va - vb)) or "-"
            only_b = ", ".join(sorted(vb - va)) or "-"
            yield _f("VK305", ib.where,
                     f"({ib.name}) VIPs differ from {a.label}: only there {only_a}; only here {only_b}. "
                     "keepalived logs an address mismatch and a failover moves the wrong set",
                     "list the same virtual_ipaddress entries on every node", related=(ia.where,))


@rule("VK306", "warning", "equal priorities with both nodes state MASTER", "cluster")
def equal_priority_masters(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        if ia.priority == ib.priority and ia.state == ib.state == "MASTER" and ia.priority != 255:
            yield _f("VK306", ib.where,
                     f"({ib.name}) priority {ib.priority} and state MASTER on both nodes (also {a.label}): "
                     "the election falls to the higher IP address and both claim the VIP at start",
                     "give the nodes different priorities (50 apart) and one of them state BACKUP",
                     related=(ia.where,))


@rule("VK307", "error", "unicast peers do not point at each other", "cluster")
def unicast_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        if not ia.is_unicast and not ib.is_unicast:
            continue
        if ia.is_unicast != ib.is_unicast:
            uni, multi, nu, nm = (ia, ib, a, b) if ia.is_unicast else (ib, ia, b, a)
            yield _f("VK307", multi.where,
                     f"({multi.name}) multicast on {nm.label} but unicast on {nu.label} ({uni.where}): "
                     "the nodes do not hear each other",
                     "configure unicast_src_ip and unicast_peer on both nodes", related=(uni.where,))
            continue
        for x, ix, y, iy in ((a, ia, b, ib), (b, ib, a, ia)):
            src = iy.unicast_src_ip
            if src is None:
                yield _f("VK307", iy.where,
                         f"({iy.name}) no unicast_src_ip on {y.label}: its peer {x.label} cannot be checked "
                         "to list it, and the address used depends on the interface",
                         "set unicast_src_ip on every unicast node", severity="warning")
            elif src not in ix.unicast_peers:
                yield _f("VK307", ix.where,
                         f"({ix.name}) unicast_peer on {x.label} lists {', '.join(map(str, ix.unicast_peers))} "
                         f"but not {y.label}'s unicast_src_ip {src}: its adverts never reach {y.label}",
                         f"add {src} to unicast_peer on {x.label}", related=(iy.where,))


@rule("VK308", "warning", "instance present on one node only", "cluster")
def lone_instance(nodes: list[Node]) -> Iterator[Finding]:
    if len(nodes) < 2:
        return
    paired: set[tuple[str, str]] = set()
    for a, ia, b, ib in _pairs(nodes):
        paired.add((a.label, ia.name))
        paired.add((b.label, ib.name))
    for node in nodes:
        for inst in node.config.instances:
            if (node.label, inst.name) not in paired:
                yield _f("VK308", inst.where,
                         f"({inst.name}) has no counterpart (by name or VRID {inst.virtual_router_id} on "
                         f"{inst.interface}) in the other files: nothing backs this VIP up",
                         "add the instance to the other node(s), or lint only the nodes that share it")


@rule("VK309", "error", "two address owners (priority 255) for one instance", "cluster")
def two_owners(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        if ia.priority == 255 and ib.priority == 255:
            yield _f("VK309", ib.where,
                     f"({ib.name}) priority 255 here and on {a.label}: keepalived logs 'CONFIGURATION ERROR: "
                     "... both configured as address owner' and the nodes fight over the VIP",
                     "only the node that really owns the address may use priority 255", related=(ia.where,))


@rule("VK310", "warning", "same instance with different down_timer_adverts", "cluster")
def down_timer_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        if ia.down_timer_adverts != ib.down_timer_adverts:
            yield _f("VK310", ib.where,
                     f"({ib.name}) down_timer_adverts {ib.down_timer_adverts} here, {ia.down_timer_adverts} on "
                     f"{a.label}; keepalived requires them equal on all routers",
                     "use one down_timer_adverts value everywhere", related=(ia.where,))


@rule("VK311", "error", "same instance on different multicast groups", "cluster")
def mcast_group_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    def group(node: Node, inst: Instance) -> object:
        if inst.mcast_dst_ip is not None:
            return inst.mcast_dst_ip
        g = node.config.global_defs
        return g.vrrp_mcast_group4 if inst.family == 4 else g.vrrp_mcast_group6

    for a, ia, b, ib in _pairs(nodes):
        if ia.is_unicast or ib.is_unicast:
            continue
        ga, gb = group(a, ia), group(b, ib)
        if ga != gb:
            yield _f("VK311", ib.where,
                     f"({ib.name}) adverts go to {gb} here but to {ga} on {a.label}: the nodes do not hear "
                     "each other",
                     "use the same vrrp_mcast_group4/6 (or mcast_dst_ip) on every node", related=(ia.where,))


def _witness_key(node: Node, inst: Instance) -> str | None:
    """The etcd key the quorum witness makes this instance claim (its sync group's), or None."""
    config = node.config
    group = next((g for g in config.sync_groups if g.name == inst.sync_group), None)
    kind, name, witness = (("sync_group", group.name, group.witness) if group is not None
                           else ("instance", inst.name, inst.witness))
    block = config.witness(witness) if witness else None
    return key_for(block, kind, name) if block is not None else None


@rule("VK317", "error", "quorum witness on one node only, or on different keys", "cluster")
def witness_mismatch(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        ka, kb = _witness_key(a, ia), _witness_key(b, ib)
        if ka != kb:
            yield _f("VK317", ib.where,
                     f"({ib.name}) witness key {kb or 'none'} here but {ka or 'none'} on {a.label}: "
                     + ("a node without the witness takes the VIP whenever VRRP says so, the witness "
                        "cannot keep the pair from a split brain" if not (ka and kb) else
                        "the nodes claim different keys, so both may hold the VIP at once"),
                     "give the instance (or its sync group) the same `witness` and prefix on every node",
                     related=(ia.where,))


@rule("VK318", "error", "nodes sharing a witness key with the same router_id", "cluster")
def witness_same_owner(nodes: list[Node]) -> Iterator[Finding]:
    for a, ia, b, ib in _pairs(nodes):
        key = _witness_key(a, ia)
        ra, rb = a.config.global_defs.router_id, b.config.global_defs.router_id
        if key and key == _witness_key(b, ib) and ra and ra == rb:
            yield _f("VK318", ib.where,
                     f"({ib.name}) router_id {rb} on {a.label} too: both write it as the owner of witness key "
                     f"{key}, so each takes the other's key for its own",
                     "give every node its own router_id in global_defs", related=(ia.where,))


def run(nodes: list[Node]) -> list[Finding]:
    """Every rule over `nodes`; cluster rules only with two or more nodes."""
    out: list[Finding] = []
    for r in RULES:
        if r.scope == "cluster" and len(nodes) < 2:
            continue
        out.extend(r.check(nodes))
    unique = list(dict.fromkeys(out))
    return sorted(unique, key=Finding.sort_key)
