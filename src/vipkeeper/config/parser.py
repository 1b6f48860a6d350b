"""From the block tree to the immutable `Config`: keyword tables applied, defaults resolved,
cross-references checked.

Rules
- Two passes. The first walks every top-level block with its keyword table (keywords.py) and
  keeps raw values; the second builds the model, because defaults come from `global_defs`
  wherever it stands and references may point forward (an instance may track a script defined
  after it).
- Severity follows keepalived 2.2.7: what keepalived repairs or ignores with a message (a value
  out of range, an unknown track script, a VIP of the wrong family) is a warning and the model
  holds what keepalived would run; what keepalived cannot run (an instance without
  virtual_router_id or interface) is an error, and so is what would make two instances
  indistinguishable (same name; same VRID, interface and family on multicast; same VRID,
  interface, family and unicast source on unicast).
- Unknown keywords: `Unknown keyword 'X'` at their line, as keepalived says it, and the keyword
  of that block it is a likely misspelling of (`priorty` -> `priority`). A configuration
  that is mostly unknown words is not a keepalived configuration: past MAX_UNKNOWN of them the
  whole input is refused with one `ConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterable

from vipkeeper import records
from vipkeeper.records import factory, record

from . import keywords as kw
from . import track_groups, vmac_addr
from .host_checks import Host, host_diagnostics
from .keywords import Invalid, Keyword, Sink
from .lexer import Lexed
from .model import (
    Authentication,
    Config,
    ConfigError,
    Garp,
    GarpGroup,
    GlobalDefs,
    Instance,
    Notifies,
    StaticTrackGroup,
    SyncGroup,
    TrackFile,
    TrackProcess,
    TrackRef,
    VirtualAddress,
    VirtualRoute,
    VirtualRule,
    VrrpScript,
    Where,
    Witness,
)
from .tree import Node, build_tree

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any

MAX_UNKNOWN = 1000
SPELLING_CUTOFF = 0.8  # difflib ratio: priorty/priority 0.93; vrrp_version/version 0.74 is no typo
V3_MAX_ADVERT = 40.95


@record
class Block:
    """A walked block: values by field, where each came from, understood-but-unmodelled words."""

    node: Node
    values: dict[str, Any] = factory(dict)
    wheres: dict[str, Where] = factory(dict)
    extras: list[tuple[str, tuple[str, ...]]] = factory(list)

    @property
    def name(self) -> str:
        return self.node.args[0] if self.node.args else ""

    def where(self, key: str) -> Where:
        return self.wheres.get(key, self.node.where)


class _Walker:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.unknown = 0

    def unknown_keyword(self, node: Node, known: Iterable[str] = ()) -> None:
        self.unknown += 1
        if self.unknown > MAX_UNKNOWN:
            raise ConfigError(node.where, f"more than {MAX_UNKNOWN} unknown keywords: "
                                          "this does not look like a keepalived configuration")
        message = f"Unknown keyword '{node.keyword}'"
        import difflib  # only for a misspelt keyword: not paid by every `check`

        close = difflib.get_close_matches(node.keyword, list(known), n=1, cutoff=SPELLING_CUTOFF)
        if close:  # a misspelt keyword is the typo that goes live: say which one was meant
            message += f" (did you mean '{close[0]}'?)"
        if node.children is not None:
            message += (" - its block is skipped (keepalived 2.2.7 does not skip it: the '}' closing"
                        " it would end the enclosing block and the rest would be misread)")
        self.sink.warning(node, message)

    def walk(self, table: dict[str, Keyword], node: Node) -> Block:
        block = Block(node)
        for child in node.children or []:
            if not child.keyword:
                self.sink.warning(child, "Unexpected '{' - ignoring its block")
                continue
            spec = table.get(child.keyword)
            if spec is None:
                self.unknown_keyword(child, table)
                continue
            self.apply(spec, child, block)
        return block

    def apply(self, spec: Keyword, child: Node, block: Block) -> None:
        sink = self.sink
        if spec.status != "ok":
            kw.report(child.keyword, spec, child, sink)
            if spec.read is None:
                block.extras.append((child.keyword, child.args))
                return
        if spec.block and child.children is None:
            sink.warning(child, f"'{child.keyword}' expects a {{ }} block - ignoring")
            return
        if not spec.block and child.children is not None:
            sink.warning(child, f"Unexpected '{{' after '{child.keyword}' - ignoring the block")
        if spec.read is None:
            block.extras.append((child.keyword, child.args))
            return
        try:
            value = spec.read(child, sink)
        except Invalid as exc:
            (sink.error if spec.fatal else sink.warning)(child, str(exc))
            return
        if spec.multi:
            items = value.items()
        elif spec.field is None:
            block.extras.append((child.keyword, child.args))
            return
        else:
            items = [(spec.field, value)]
        for key, item in items:
            previous = block.values.get(key)
            if spec.block and isinstance(previous, tuple) and isinstance(item, tuple):
                item = previous + item  # a second `virtual_ipaddress { }` adds, as in keepalived
            if type(item) is str or type(item) is float:  # one "eth0", "BACKUP", 1.0 for all instances
                item = sink.shared(item)
            block.values[key] = item
            block.wheres[key] = child.where


@record
class _Raw:
    globals: list[Block] = factory(list)
    instances: list[Block] = factory(list)
    groups: list[Block] = factory(list)
    scripts: list[Block] = factory(list)
    processes: list[Block] = factory(list)
    files: list[Block] = factory(list)
    witnesses: list[Block] = factory(list)
    static_addresses: list[VirtualAddress] = factory(list)
    static_routes: list[VirtualRoute] = factory(list)
    static_rules: list[VirtualRule] = factory(list)
    track_groups: list[StaticTrackGroup] = factory(list)
    top_extras: list[tuple[str, tuple[str, ...]]] = factory(list)
    link_delays: list[tuple[str, float, float]] = factory(list)
    garp_groups: list[GarpGroup] = factory(list)


# name -> (table, attribute of _Raw, needs a name)
_TOP_BLOCKS: dict[str, tuple[dict[str, Keyword], str, bool]] = {
    "global_defs": (kw.GLOBAL_DEFS, "globals", False),
    "vrrp_instance": (kw.INSTANCE, "instances", True),
    "vrrp_sync_group": (kw.SYNC_GROUP, "groups", True),
    "vrrp_script": (kw.SCRIPT, "scripts", True),
    "vrrp_track_process": (kw.TRACK_PROCESS, "processes", True),
    "track_file": (kw.TRACK_FILE, "files", True),
    "vrrp_track_file": (kw.TRACK_FILE, "files", True),
    "vipkeeper_witness": (kw.WITNESS, "witnesses", True),
}


def parse(lexed: Lexed, host: Host | None = None) -> Config:
    """Build the model from lexed lines. Raises ConfigError only for structural failures.
    With `host`, what the file names is also checked against that host (host_checks.py)."""
    sink = Sink()
    sink.diagnostics.extend(lexed.diagnostics)
    tree = build_tree(lexed.lines)
    walker = _Walker(sink)
    raw = _collect(tree, walker)
    resolver = _Resolver(raw, sink)
    config = resolver.config(lexed.files)
    if host is None:
        return config
    found = host_diagnostics(config, host, resolver.interface_lines)
    return _replace(config, diagnostics=tuple(_in_file_order([*config.diagnostics, *found], lexed.files)))


def _refusals(sink: Sink, run_without: dict[str, Where]) -> None:
    """Each feature vipkeeper lacks whose absence would change the wire or who holds a VIP is an
    error, unless global_defs opted out of it with `vipkeeper_run_without FEATURE`."""
    for feature, where, message in sink.refusals:
        opted = run_without.get(feature)
        if opted is not None:
            sink.unsupported(where, f"{message} - running without it as {kw.RUN_WITHOUT} at {opted} allows")
        else:
            sink.error(where, f"{message}: vipkeeper refuses to run without it (to accept that: "
                              f"'{kw.RUN_WITHOUT} {feature}' in global_defs)")


def _collect(tree: list[Node], walker: _Walker) -> _Raw:
    raw = _Raw()
    sink = walker.sink
    for node in tree:
        key = node.keyword
        if not key:
            sink.warning(node, "Unexpected '{' - ignoring its block")
        elif key in _TOP_BLOCKS:
            table, attribute, named = _TOP_BLOCKS[key]
            if node.children is None:
                sink.warning(node, f"'{key}' expects a {{ }} block - ignoring")
                continue
            if named and not node.args:
                sink.error(node, f"'{key}' needs a name - block ignored")
                continue
            getattr(raw, attribute).append(walker.walk(table, node))
        elif key in kw.TOP:
            if kw.TOP[key].status != "ok":
                kw.report(key, kw.TOP[key], node, sink)
            if key == "interface_up_down_delays":
                if node.children is None:
                    sink.warning(node, f"'{key}' expects a {{ }} block - ignoring")
                else:
                    raw.link_delays.extend(kw.link_delays(node, sink))
            elif key == "garp_group":
                if node.children is None:
                    sink.warning(node, f"'{key}' expects a {{ }} block - ignoring")
                else:
                    _add_garp_group(raw.garp_groups, kw.garp_group(node, sink), sink)
            elif key == "static_ipaddress" and node.children is not None:
                raw.static_addresses.extend(track_groups.known_only(kw.vip_block(node, sink), raw.track_groups, sink))
            elif key in ("static_routes", "static_rules", "track_group") and node.children is None:
                sink.warning(node, f"'{key}' expects a {{ }} block - ignoring")
            elif key == "static_routes":
                raw.static_routes.extend(track_groups.known_only(kw.route_block(node, sink), raw.track_groups, sink))
            elif key == "static_rules":
                raw.static_rules.extend(track_groups.known_only(kw.rule_block(node, sink), raw.track_groups, sink))
            elif key == "track_group":
                group = kw.static_track_group(node, sink)
                if group is not None and any(g.name == group.name for g in raw.track_groups):
                    sink.warning(node, f"track_group {group.name} already defined")
                elif group is not None:
                    raw.track_groups.append(group)
            elif kw.TOP[key].status == "ignored":
                raw.top_extras.append((key, node.args))
        else:
            walker.unknown_keyword(node, [*_TOP_BLOCKS, *kw.TOP])
    return raw


def _add_garp_group(groups: list[GarpGroup], group: GarpGroup | None, sink: Sink) -> None:
    """An interface belongs to the first garp_group naming it (keepalived 2.2.7: "garp_group
    already specified for IF - ignoring")."""
    if group is None:
        return
    taken = {name for g in groups for name in g.interfaces}
    names = []
    for name in group.interfaces:
        if name in taken or name in names:
            sink.warning(group.where, f"garp_group already specified for {name} - ignoring it here")
        else:
            names.append(name)
    groups.append(_replace(group, interfaces=tuple(names)))


def _notifies(values: dict[str, Any], priority_changes: bool) -> Notifies:
    deleted = values.get("notify_deleted")
    return Notifies(
        master=values.get("notify_master"),
        backup=values.get("notify_backup"),
        fault=values.get("notify_fault"),
        stop=values.get("notify_stop"),
        deleted=deleted if deleted is not True else None,
        master_rx_lower_pri=values.get("notify_master_rx_lower_pri"),
        generic=values.get("notify_generic"),
        priority_changes=values.get("notify_priority_changes", priority_changes),
        report_deleted=deleted is not None,
    )


_GARP_FIELDS = ("master_delay", "master_repeat", "master_refresh", "master_refresh_repeat",
                "lower_prio_delay", "lower_prio_repeat")


class _Resolver:
    def __init__(self, raw: _Raw, sink: Sink) -> None:
        self.raw = raw
        self.sink = sink
        self.global_values: dict[str, Any] = {}
        self.interface_lines: dict[str, Where] = {}  # instance -> its `interface` line

    def config(self, files: tuple[str, ...]) -> Config:
        globals_ = self.global_defs()
        _refusals(self.sink, self.run_without())
        scripts = self.named(self.raw.scripts, self.script, "vrrp_script")
        processes = self.named(self.raw.processes, self.track_process, "vrrp_track_process")
        files_ = self.named(self.raw.files, self.track_file, "track_file")
        known = {"script": {s.name for s in scripts}, "process": {p.name for p in processes},
                 "file": {f.name for f in files_}}
        instances = vmac_addr.assign(self.instances(globals_, known),
                                     lambda vip, message: self.sink.warning(vip.where, message))
        groups, membership = self.sync_groups(instances, known, globals_)
        instances = [_replace(i, sync_group=membership[i.name]) if i.name in membership else i
                     for i in instances]
        instances = track_groups.apply(instances, self.raw.track_groups,
                                       [*self.raw.static_addresses, *self.raw.static_routes, *self.raw.static_rules],
                                       globals_.default_interface, self.sink)
        self.member_weights(instances, groups)
        witnesses = self.named(self.raw.witnesses, self.witness, "vipkeeper_witness")
        self.witness_refs(instances, groups, {w.name for w in witnesses})
        return Config(
            files=files,
            global_defs=globals_,
            instances=tuple(instances),
            sync_groups=tuple(groups),
            scripts=tuple(scripts),
            track_processes=tuple(processes),
            track_files=tuple(files_),
            witnesses=tuple(witnesses),
            static_addresses=tuple(self.raw.static_addresses),
            static_routes=tuple(self.raw.static_routes),
            interface_up_down_delays=tuple(self.raw.link_delays),
            garp_groups=tuple(self.raw.garp_groups),
            static_rules=tuple(self.raw.static_rules),
            track_groups=tuple(self.raw.track_groups),
            diagnostics=tuple(_in_file_order(self.sink.diagnostics, files)),
        )

    # -- global_defs ---------------------------------------------------------------------------

    def global_defs(self) -> GlobalDefs:
        values: dict[str, Any] = {}
        extras: list[tuple[str, tuple[str, ...]]] = list(self.raw.top_extras)
        for block in self.raw.globals:
            values.update(block.values)
            extras.extend(block.extras)
        self.global_values = values
        garp = Garp()
        if values.get("vrrp_min_garp"):
            garp = Garp(master_delay=0.0, master_repeat=1, master_refresh=0.0, master_refresh_repeat=0,
                        lower_prio_delay=0.0, lower_prio_repeat=1)
        garp = self.garp(garp, values, values, inherit_lower=True)
        garp = _replace(garp, interval=values.get("garp_interval", 0.0),
                        na_interval=values.get("garp_na_interval", 0.0))
        model_fields = {f.name for f in records.fields(GlobalDefs)}
        direct = {k: v for k, v in values.items() if k in model_fields}
        return GlobalDefs(**direct, garp=garp, extras=tuple(extras))

    def run_without(self) -> dict[str, Where]:
        """`vipkeeper_run_without FEATURE...`: the refused features the admin accepts losing."""
        accepted: dict[str, Where] = {}
        for block in self.raw.globals:
            if "run_without" not in block.values:
                continue
            where = block.where("run_without")
            for feature in block.values["run_without"]:
                if feature in kw.REFUSABLE:
                    accepted.setdefault(feature, where)
                else:
                    self.sink.warning(where, f"{kw.RUN_WITHOUT}: '{feature}' is not a feature vipkeeper "
                                             f"refuses (one of: {' '.join(sorted(kw.REFUSABLE))})")
        return accepted

    @staticmethod
    def garp(base: Garp, values: dict[str, Any], lower_source: dict[str, Any], *, inherit_lower: bool) -> Garp:
        updates = {name: values[f"garp_{name}"] for name in _GARP_FIELDS if f"garp_{name}" in values}
        garp = _replace(base, **updates)
        if inherit_lower:
            if "garp_lower_prio_delay" not in lower_source:
                garp = _replace(garp, lower_prio_delay=garp.master_delay)
            if "garp_lower_prio_repeat" not in lower_source:
                garp = _replace(garp, lower_prio_repeat=garp.master_repeat)
        return garp

    # -- trackers ------------------------------------------------------------------------------

    def named(self, blocks: list[Block], build: Any, what: str) -> list[Any]:
        result: dict[str, Any] = {}
        for block in blocks:
            if block.name in result:
                self.sink.warning(block.node, f"{what} {block.name} already defined - ignoring this one")
                continue
            item = build(block)
            if item is not None:
                result[block.name] = item
        return list(result.values())

    def script(self, block: Block) -> VrrpScript | None:
        values = block.values
        if "script" not in values:
            self.sink.warning(block.node, f"No script set for vrrp_script {block.name} - removing")
            return None
        for key in ("interval", "timeout"):
            if values.get(key) == 0:
                self.sink.warning(block.where(key), f"({block.name}): vrrp script {key} must be greater "
                                                    "than 0, setting to 1")
                values[key] = 1.0
        command = values["script"]
        return VrrpScript(
            name=block.name, script=command, argv=kw.split_command(command),
            interval=values.get("interval", 1.0), timeout=values.get("timeout"),
            weight=values.get("weight", 0), reverse=values.get("reverse", False),
            rise=values.get("rise", 1), fall=values.get("fall", 1),
            user=values.get("user"), group=values.get("group"),
            init_fail=values.get("init_fail", False), where=block.node.where,
        )

    def track_process(self, block: Block) -> TrackProcess | None:
        values = block.values
        if "process" not in values:
            self.sink.warning(block.node, f"No process set for vrrp_track_process {block.name} - removing")
            return None
        params = values.get("params", ())
        param_match = values.get("param_match")
        if params and param_match is None:
            param_match = "exact"
        full_command = values.get("full_command", False)
        process = values["process"]
        if not params and not full_command and param_match is None and len(process) > 15:
            self.sink.warning(block.where("process"), f"vrrp_track_process {block.name}: process name "
                              f"'{process}' is longer than 15 characters and can never match a process "
                              "name (/proc/PID/comm); use full_command")
        quorum = values.get("quorum", 1)
        quorum_max = values.get("quorum_max")
        if quorum_max == 0:
            quorum = 0
        elif quorum_max is not None and quorum_max < quorum:
            self.sink.warning(block.where("quorum_max"), f"vrrp_track_process {block.name}: quorum_max "
                              f"{quorum_max} is below quorum {quorum}: the tracker can never be up")
        return TrackProcess(
            name=block.name, process=process, params=params, param_match=param_match,
            full_command=full_command, quorum=quorum, quorum_max=quorum_max,
            fork_delay=values.get("fork_delay", 0.0), terminate_delay=values.get("terminate_delay", 0.0),
            weight=values.get("weight", 0), reverse=values.get("reverse", False), where=block.node.where,
        )

    def track_file(self, block: Block) -> TrackFile | None:
        values = block.values
        if "file" not in values:
            self.sink.warning(block.node, f"No file set for track_file {block.name} - removing")
            return None
        return TrackFile(
            name=block.name, file=values["file"], weight=values.get("weight", 1),
            reverse=values.get("reverse", False), init_file=values.get("init_file"),
            init_file_overwrite=values.get("init_file_overwrite", False), where=block.node.where,
        )

    def refs(self, owner: str, refs: tuple[TrackRef, ...], kind: str, known: set[str]) -> tuple[TrackRef, ...]:
        kept = []
        for ref in refs:
            if ref.name not in known:
                self.sink.warning(ref.where, f"({owner}) track {kind} {ref.name} not found, ignoring...")
            else:
                kept.append(ref)
        return tuple(kept)

    # -- instances -----------------------------------------------------------------------------

    def instances(self, globals_: GlobalDefs, known: dict[str, set[str]]) -> list[Instance]:
        result: list[Instance] = []
        seen: dict[str, Instance] = {}
        for block in self.raw.instances:
            if block.name in seen:
                self.sink.error(block.node, f"vrrp instance {block.name} already defined (first at "
                                            f"{seen[block.name].where})")
                continue
            instance = self.instance(block, globals_, known)
            if instance is not None:
                seen[block.name] = instance
                result.append(instance)
        self.duplicate_vrids(result)
        return result

    def instance_vrf(self, block: Block) -> bool:
        """`vrf NAME`, as keepalived 2.2.7 reads it (vrrp_parser.c vrrp_vrf_handler, vrrp.c): it
        applies only to a unicast instance without `interface`, whose sockets keepalived then
        binds to the VRF device. With `interface` (the adverts then live in the interface's own
        VRF, if it is enslaved to one: the sockets are bound to it) or without unicast peers,
        keepalived drops it with a warning, and so does vipkeeper; its words. The one case
        where it acts needs an instance without an interface, which vipkeeper does not run: an
        error. False when the instance cannot run."""
        name, values, sink = block.name, block.values, self.sink
        vrf, where = values["vrf"], block.where("vrf")
        if len(vrf) > kw.LABEL_MAX:
            sink.warning(where, f"({name}) VRF interface name '{vrf}' too long - ignoring")
        elif "interface" in values and block.where("interface").line < where.line:
            sink.warning(where, f"({name}) Cannot specify VRF interface and interface - ignoring")
        elif "interface" in values:
            sink.warning(where, f"({name}) vrf can only be specified without interface - clearing")
        elif not values.get("unicast_peers"):
            sink.warning(where, f"({name}) vrf can only be specified with unicast - clearing")
        else:
            sink.error(where, f"({name}) vrf {vrf} without interface: vipkeeper runs no instance without an "
                              f"interface (keepalived would bind its VRRP sockets to {vrf}); name the interface "
                              f"enslaved to {vrf} with 'interface' (the adverts then stay in {vrf})")
            return False
        if "interface" not in values:
            sink.error(block.node, f"({name}) no interface: vipkeeper needs the interface adverts use")
            return False
        return True

    def instance(self, block: Block, g: GlobalDefs, known: dict[str, set[str]]) -> Instance | None:
        name, values, sink = block.name, block.values, self.sink
        usable = True
        if "vrf" in values:
            usable = self.instance_vrf(block) and usable
        elif "interface" not in values:
            sink.error(block.node, f"({name}) no interface: vipkeeper needs the interface adverts use")
            usable = False
        if "virtual_router_id" not in values:
            sink.error(block.node, f"({name}) the virtual router id must be set")
            usable = False

        state = values.get("state", "BACKUP")
        if "priority" in values:
            priority = values["priority"]
        elif state == "MASTER":
            priority = 255
            sink.warning(block.where("state"), f"({name}) state MASTER without priority: keepalived 2.2.7 "
                                               "then uses priority 255 (address owner)")
        else:
            priority = 100

        given = values.get("virtual_ipaddress", ())
        # keepalived takes the instance's family from the first address it reads, in file order
        # (a VIP, unicast_src_ip, mcast_src_ip or a unicast peer); the others must match it
        firsts: list[tuple[Where, int]] = [(given[0].where, given[0].family)] if given else []
        for key in ("unicast_src_ip", "mcast_src_ip", "unicast_peers"):
            value = values.get(key)
            if value:
                firsts.append((block.where(key), (value[0] if key == "unicast_peers" else value).version))
        family = 6 if values.get("native_ipv6") else (min(firsts)[1] if firsts else 4)
        kept = []
        for vip in given:
            if vip.family != family:
                sink.warning(vip.where, f"({name}): address family must match VRRP instance "
                                        f"[{vip.address}] - ignoring")
            else:
                kept.append(vip)
        # nothing dropped (nearly always): the walked tuple itself, not a copy per instance (issue 18)
        vips = given if len(kept) == len(given) and type(given) is tuple else tuple(kept)
        if not vips:
            sink.warning(block.node, f"({name}) No VIP specified; at least one is sensible")

        version = values.get("version", g.vrrp_version)
        if family == 6 and version == 2:
            sink.warning(block.where("version") if "version" in values else block.node,
                         f"({name}) VRRP version 2 cannot carry IPv6 addresses - using version 3")
            version = 3

        advert_int = values.get("advert_int", 1.0)
        if version == 2 and advert_int != int(advert_int):
            rounded = max(1, round(advert_int))
            sink.warning(block.where("advert_int"), f"({name}) VRRPv2 advertisement interval {advert_int:f}s "
                         f"must be an integer. rounding to {rounded}s")
            advert_int = float(rounded)
        elif version == 3:
            if advert_int > V3_MAX_ADVERT:
                sink.warning(block.where("advert_int"), f"({name}) VRRPv3 advertisement interval "
                             f"{advert_int:.2f}s is out of range. Must be less than 40.96s. Setting to 40.95s")
                advert_int = V3_MAX_ADVERT
            centis = round(advert_int * 100)
            if abs(centis - advert_int * 100) > 1e-6:
                sink.warning(block.where("advert_int"), f"({name}) VRRPv3 advertisement interval "
                             f"{advert_int}s has centisecond resolution - using {centis / 100:.2f}s")
            advert_int = centis / 100

        nopreempt = values.get("nopreempt", False)
        preempt_delay = values.get("preempt_delay", 0.0)
        if nopreempt and priority == 255:
            sink.warning(block.where("nopreempt"), f"({name}) nopreempt is incompatible with priority 255. "
                                                   "resetting nopreempt")
            nopreempt = False
        if nopreempt and state == "MASTER":
            sink.warning(block.where("nopreempt"), f"({name}) Warning - nopreempt will not work with "
                                                   "initial state MASTER")
        if preempt_delay and state == "MASTER":
            sink.warning(block.where("preempt_delay"), f"({name}) Warning - preempt delay will not work "
                                                       "with initial state MASTER - clearing")
            preempt_delay = 0.0

        auth = self.authentication(name, values.get("authentication"), version)
        if auth is not None and auth.auth_type == "AH" and state == "MASTER":
            sink.warning(block.where("state"), f"({name}) Initial state master is incompatible with "
                                               "AH authentication - clearing")
            state = "BACKUP"

        mcast_dst = values.get("mcast_dst_ip")
        if mcast_dst is not None and (mcast_dst.version != family or not mcast_dst.is_multicast):
            sink.warning(block.where("mcast_dst_ip"), f"({name}) mcast_dst_ip {mcast_dst} is not an "
                                                      f"IPv{family} multicast address - ignoring")
            mcast_dst = None
        peers = values.get("unicast_peers", ())
        source = values.get("unicast_src_ip")
        for address in (source, *peers):
            if address is not None and address.version != family:
                sink.warning(block.where("unicast_peers" if address is not source else "unicast_src_ip"),
                             f"({name}) unicast address {address} is not of the instance's family IPv{family}")

        interface = values.get("interface", "")
        self.interface_lines[name] = block.where("interface")
        track_interface = []
        for ref in values.get("track_interface", ()):
            if ref.name == interface:
                sink.warning(ref.where, f"({name}) Ignoring track_interface {ref.name} since own interface")
            else:
                track_interface.append(ref)

        strict_mode = values.get("strict_mode", g.vrrp_strict)
        accept = values.get("accept")
        if strict_mode:  # what keepalived 2.2.7 -t resets in strict mode (measured)
            if auth is not None:
                sink.warning(auth.where, f"({name}) Strict mode does not support authentication. Ignoring.")
                auth = None
            if preempt_delay:
                sink.warning(block.where("preempt_delay"), f"({name}) preempt_delay is incompatible with "
                                                           "strict mode - resetting")
                preempt_delay = 0.0
            if accept and version == 2:
                sink.warning(block.where("accept"), f"({name}) warning - accept mode for VRRP version 2 does "
                                                    "not comply with RFC3768 - resetting")
                accept = False
        garp = g.garp
        if strict_mode or any(f"garp_{name}" in values for name in _GARP_FIELDS):
            garp = self.instance_garp(g.garp, values, strict_mode)

        extras = list(block.extras)
        use_vmac = values.get("use_vmac")
        vmac_address = values.get("vmac_address")
        xmit_base = values.get("vmac_xmit_base", False)
        if use_vmac is not None:  # keepalived 2.2.7 -t's warnings and resets, word for word
            if peers and not xmit_base and not strict_mode:
                sink.warning(block.where("use_vmac"), f"({name}) unicast with use_vmac requires vmac_xmit_base "
                                                      "- setting")
                xmit_base = True
            if strict_mode and vmac_address:
                sink.warning(block.where("use_vmac"), f"({name}): cannot specify MAC address with strict mode "
                                                      "- clearing")
                vmac_address = None
        if strict_mode and xmit_base:
            sink.warning(block.where("vmac_xmit_base") if "vmac_xmit_base" in values else block.where("use_vmac"),
                         f"({name}) xmit_base is incompatible with strict mode - resetting")
            xmit_base = False
        use_ipvlan, ipvlan_address = values.get("use_ipvlan"), values.get("ipvlan_address")
        if use_ipvlan is not None:  # keepalived 2.2.7's checks (vrrp_parser.c, vrrp.c), its words
            where = block.where("use_ipvlan")
            if use_vmac is not None:
                sink.error(where, f"({name}) use_vmac and use_ipvlan together: keepalived would make only the "
                                  "ipvlan and still set the VMAC's sysctls - choose one")
                usable = False
            if ipvlan_address is not None and ipvlan_address.version != family:
                sink.warning(where, f"({name}) ipvlan address[{ipvlan_address}] MUST match vrrp instance family "
                                    "!!! Skipping...")
                ipvlan_address = None
            if family == 4 and ipvlan_address is None:
                sink.error(where, f"({name}) IPv4 ipvlan requires a source ip address to be configured "
                                  "(keepalived would keep the instance in FAULT)")
                usable = False
            if peers and not xmit_base:
                sink.warning(where, f"({name}) unicast with use_vmac requires vmac_xmit_base - setting")
                xmit_base = True
            if xmit_base:
                sink.warning(block.where("vmac_xmit_base") if "vmac_xmit_base" in values else where,
                             f"({name}) vmac_xmit_base is only valid with a vmac")
                xmit_base = False
        for key in ("native_ipv6", "promote_secondaries", "track_src_ip"):
            if key in values:
                value = values[key]
                extras.append((key, () if value is True else (str(value),)))

        if priority == 255:
            weighted = [r for r in values.get("track_script", ()) + values.get("track_process", ())
                        + values.get("track_file", ()) + tuple(track_interface) if r.weight]
            for ref in weighted:
                sink.warning(ref.where, f"({name}) weight {ref.weight} of {ref.name} has no effect: the "
                                        "priority of an address owner (255) is never changed")
        if not usable:
            return None
        return Instance(
            name=name, interface=interface, virtual_router_id=values["virtual_router_id"],
            where=block.node.where, state=state, priority=priority, advert_int=self.sink.shared(advert_int),
            version=version, family=family, nopreempt=nopreempt, preempt_delay=preempt_delay,
            down_timer_adverts=values.get("down_timer_adverts", g.vrrp_down_timer_adverts),
            authentication=auth, mcast_src_ip=values.get("mcast_src_ip"), mcast_dst_ip=mcast_dst,
            unicast_src_ip=source, unicast_peers=peers, unicast_ttl=values.get("unicast_ttl", 255),
            unicast_peer_ttl=values.get("unicast_peer_ttl", ()),
            unicast_fault_no_peer=values.get("unicast_fault_no_peer", False),
            check_unicast_src=values.get("check_unicast_src", g.vrrp_check_unicast_src),
            virtual_ipaddress=vips,
            virtual_ipaddress_excluded=values.get("virtual_ipaddress_excluded", ()),
            virtual_routes=values.get("virtual_routes", ()),
            virtual_rules=values.get("virtual_rules", ()),
            track_interface=tuple(track_interface),
            track_script=self.refs(name, values.get("track_script", ()), "script", known["script"]),
            track_process=self.refs(name, values.get("track_process", ()), "process", known["process"]),
            track_file=self.refs(name, values.get("track_file", ()), "file", known["file"]),
            notify=self.sink.shared(_notifies(values, g.vrrp_notify_priority_changes)),
            garp=self.sink.shared(garp),
            lower_prio_no_advert=values.get("lower_prio_no_advert", g.vrrp_lower_prio_no_advert or strict_mode),
            higher_prio_send_advert=values.get("higher_prio_send_advert", g.vrrp_higher_prio_send_advert),
            dont_track_primary=values.get("dont_track_primary", False),
            skip_check_adv_addr=values.get("skip_check_adv_addr", g.vrrp_skip_check_adv_addr),
            strict_mode=strict_mode, accept=accept,
            use_vmac=use_vmac, vmac_address=vmac_address, vmac_xmit_base=xmit_base,
            use_vmac_addr=values.get("use_vmac_addr", False),
            use_ipvlan=use_ipvlan, ipvlan_address=ipvlan_address, ipvlan_mode=values.get("ipvlan_mode", "bridge"),
            # the instance's own garp_extra_if, else the global one with its `all`
            garp_extra_if=values.get("garp_extra_if", g.vrrp_garp_extra_if),
            garp_extra_if_all=values.get("garp_extra_if_all", False) if "garp_extra_if" in values
            else g.vrrp_garp_extra_if_all,
            fast_handover=values.get("fast_handover", False),
            smtp_alert=_smtp_alert(values, g),
            witness=values.get("witness"),
            extras=tuple(extras),
        )

    def instance_garp(self, base: Garp, values: dict[str, Any], strict_mode: bool) -> Garp:
        """Instance garp_* over the global ones; an instance's master values also become its
        lower-priority defaults unless a lower-priority value is set here or globally."""
        fields = {name: getattr(base, name) for name in _GARP_FIELDS}
        fields.update({name: values[f"garp_{name}"] for name in _GARP_FIELDS if f"garp_{name}" in values})
        for lower, master in (("lower_prio_delay", "master_delay"), ("lower_prio_repeat", "master_repeat")):
            if f"garp_{master}" in values and f"garp_{lower}" not in values \
                    and f"garp_{lower}" not in self.global_values:
                fields[lower] = fields[master]
        if strict_mode:
            fields["lower_prio_repeat"] = 0
        return Garp(**fields, interval=base.interval, na_interval=base.na_interval)

    def authentication(self, name: str, node: Node | None, version: int) -> Authentication | None:
        if node is None:
            return None
        block = _Walker(self.sink).walk(kw.AUTHENTICATION, node)
        values = block.values
        if version == 3:
            self.sink.warning(node, f"({name}) authentication is not part of VRRPv3 - ignoring it")
            return None
        auth_type = values.get("auth_type")
        password = values.get("auth_pass")
        if auth_type is None or password is None:
            self.sink.warning(node, f"({name}) authentication needs auth_type and auth_pass - ignoring it")
            return None
        if len(password) > 8:
            self.sink.warning(block.where("auth_pass"), "Truncating auth_pass to 8 characters")
            password = password[:8]
        if auth_type == "AH":
            # Refused, not merely "unsupported": running on would send the secret in clear and
            # verify nothing, while the admin believes the adverts are authenticated.
            self.sink.error(block.where("auth_type"), f"({name}) auth_type AH is not implemented "
                            "(vipkeeper would send the secret in clear and verify nothing, and an AH "
                            "peer rejects every advert vipkeeper sends, so both nodes would become "
                            "Master): use auth_type PASS or none on every node")
        return Authentication(auth_type, password, node.where)

    def duplicate_vrids(self, instances: list[Instance]) -> None:
        """Two instances the daemon could not tell apart on receipt are an error: on multicast the
        same VRID, interface, family and group; on unicast the same VRID, interface, family and
        source address (they would share one socket, and adverts are handed out by VRID, so one
        of them would never hear its peer)."""
        seen: dict[tuple[Any, ...], Instance] = {}
        for instance in instances:
            if instance.is_unicast:
                key: tuple[Any, ...] = ("unicast", instance.interface, instance.family,
                                        instance.virtual_router_id, instance.unicast_src_ip)
            else:
                key = ("multicast", instance.interface, instance.family, instance.virtual_router_id,
                       instance.mcast_dst_ip)
            other = seen.get(key)
            if other is None:
                seen[key] = instance
                continue
            message = (f"({instance.name}) VRID {instance.virtual_router_id} is already used by "
                       f"{other.name} ({other.where}) on {instance.interface} for IPv{instance.family}")
            if instance.is_unicast:
                source = instance.unicast_src_ip or "the interface's address"
                message += (f" with the same unicast source ({source}): both would share one socket "
                            "and one of them would never hear its peer")
            self.sink.error(instance.where, message)

    # -- sync groups ---------------------------------------------------------------------------

    def sync_groups(self, instances: list[Instance], known: dict[str, set[str]],
                    g: GlobalDefs) -> tuple[list[SyncGroup], dict[str, str]]:
        names = {i.name for i in instances}
        membership: dict[str, str] = {}
        groups: list[SyncGroup] = []
        seen: set[str] = set()
        for block in self.raw.groups:
            name, values = block.name, block.values
            if name in seen:
                self.sink.warning(block.node, f"vrrp_sync_group {name} already defined - ignoring this one")
                continue
            seen.add(name)
            members: list[str] = []
            for member, where in values.get("group", ()):
                if member not in names:
                    self.sink.warning(where, f"Virtual router {member} specified in sync group {name} "
                                             "doesn't exist - ignoring")
                elif member in membership:
                    self.sink.warning(where, f"Virtual router {member} is already in sync group "
                                             f"{membership[member]} - ignoring it in {name}")
                elif member not in members:
                    members.append(member)
            if not members:
                self.sink.warning(block.node, f"Sync group {name} has no virtual router(s) - removing")
                continue
            if len(members) == 1:
                self.sink.warning(block.node, f"Sync group {name} has only 1 virtual router(s) - this "
                                              "probably isn't what you want")
            for member in members:
                membership[member] = name
            if values.get("global_tracking"):
                self.sink.warning(block.where("global_tracking"), "global_tracking is deprecated - use "
                                  "track_interface/track_script/track_file on the sync group")
            groups.append(SyncGroup(
                name=name, group=tuple(members), where=block.node.where,
                notify=_notifies(values, g.vrrp_notify_priority_changes),
                track_interface=values.get("track_interface", ()),
                track_script=self.refs(name, values.get("track_script", ()), "script", known["script"]),
                track_process=self.refs(name, values.get("track_process", ()), "process", known["process"]),
                track_file=self.refs(name, values.get("track_file", ()), "file", known["file"]),
                sync_group_tracking_weight=values.get("sync_group_tracking_weight", False)
                or values.get("global_tracking", False),
                smtp_alert=_smtp_alert(values, g),
                witness=values.get("witness"),
            ))
        return groups, membership

    # -- the witness (vipkeeper extension) ---------------------------------------------------

    def witness(self, block: Block) -> Witness | None:
        values = block.values
        if "endpoints" not in values:
            self.sink.error(block.node, f"vipkeeper_witness {block.name} has no endpoints")
            return None
        if ("cert" in values) != ("key" in values):
            self.sink.error(block.node, f"vipkeeper_witness {block.name}: cert and key go together")
            return None
        ttl = values.get("lease_ttl", 3)
        margin = values.get("lease_margin", 0.2)
        if ttl * (1 - 1e-3) - margin <= ttl / 3:
            self.sink.error(block.where("lease_margin"), f"vipkeeper_witness {block.name}: lease_margin "
                            f"{margin} s leaves no time to renew a {ttl} s lease (need margin < 2/3 TTL)")
            return None
        return Witness(
            name=block.name, endpoints=values["endpoints"], cacert=values.get("cacert"),
            cert=values.get("cert"), key=values.get("key"), prefix=values.get("prefix", "/vipkeeper"),
            lease_ttl=ttl, lease_margin=margin, policy=values.get("policy", "fail_closed"),
            timeout=values.get("timeout", 0.0), where=block.node.where,
        )

    def witness_refs(self, instances: list[Instance], groups: list[SyncGroup], known: set[str]) -> None:
        """A witness that does not exist is an error: the admin asked for a guarantee."""
        grouped = {name: g for g in groups for name in g.group}
        for owner in [*instances, *groups]:
            if owner.witness is not None and owner.witness not in known:
                what = "vrrp_instance" if isinstance(owner, Instance) else "vrrp_sync_group"
                self.sink.error(owner.where, f"{what} {owner.name}: witness {owner.witness} is not a "
                                             "defined vipkeeper_witness")
        for instance in instances:
            group = grouped.get(instance.name)
            if group is not None and instance.witness is not None and instance.witness != group.witness:
                self.sink.error(instance.where, f"({instance.name}) witness {instance.witness}: the "
                                f"instance is in sync group {group.name}, whose members share one "
                                "witness key - set 'witness' on the sync group")

    def member_weights(self, instances: list[Instance], groups: list[SyncGroup]) -> None:
        """keepalived forces the tracker weights of sync group members to 0; say so where set."""
        by_name = {group.name: group for group in groups}
        for instance in instances:
            group = by_name.get(instance.sync_group or "")
            if group is None or group.sync_group_tracking_weight:
                continue
            for ref in instance.track_script + instance.track_process + instance.track_file + instance.track_interface:
                if ref.weight:
                    self.sink.warning(ref.where, f"({instance.name}) weight {ref.weight} of {ref.name} is "
                                      f"ignored: {instance.name} is in sync group {group.name} (set "
                                      "sync_group_tracking_weight on the group to keep weights)")


def _smtp_alert(values: dict[str, Any], g: GlobalDefs) -> bool:
    """keepalived 2.2.7 (vrrp.c): the block's own `smtp_alert`, else global `smtp_alert_vrrp`, else
    global `smtp_alert`, else off."""
    for value in (values.get("smtp_alert"), g.smtp_alert_vrrp, g.smtp_alert):
        if value is not None:
            return bool(value)
    return False


def _in_file_order(diagnostics: list[Any], files: tuple[str, ...]) -> list[Any]:
    rank = {name: index for index, name in enumerate(files)}
    return sorted(diagnostics, key=lambda d: (rank.get(d.where.file, len(rank)), d.where.line))


def _replace(obj: Any, **changes: Any) -> Any:
    return records.replace(obj, **changes)
