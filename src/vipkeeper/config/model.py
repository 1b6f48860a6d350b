"""The configuration model: what a keepalived.conf means, once read.

Rules
- Immutable: every value is a frozen record (vipkeeper/records.py) or a tuple, so a running daemon can hold the old
  model while a reload parses the new one, and compare the two instance by instance.
- Every node knows where it came from (`Where`: file and line). Diagnostics, `lint` findings and
  runtime log lines point the admin at the exact line to change.
- Units are resolved here: intervals and delays are float seconds, whatever keepalived's keyword
  spelled (`advert_int 0.1`, `garp_master_delay 5`). Defaults are keepalived 2.2.7's, applied by
  the parser, so consumers never re-derive them.
- The model says what the admin asked for; it does not decide protocol behaviour (vrrp/) nor how
  trackers turn states into priorities (track/). It only records weights and flags faithfully.
- Keywords that are understood but have no field of their own (`debug`, `smtp_alert`, ...) are
  kept in `extras` so that nothing the admin wrote silently vanishes from `check --json`.
"""

from __future__ import annotations

import ipaddress

from vipkeeper.records import factory, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Literal

    Severity = Literal["error", "warning", "unsupported", "ignored"]
    ParamMatch = Literal["exact", "initial", "partial"]
else:  # re-exported by config/__init__.py; plain strings at run time
    Severity = ParamMatch = str

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@record(frozen=True, order=True, slots=True)
class Where:
    """A position in the configuration: the file as the admin named it and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NOWHERE = Where("<default>", 0)


@record(frozen=True, slots=True)
class Diagnostic:
    """One message about the configuration, printed as `FILE:LINE: severity: message`."""

    where: Where
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"


class ConfigError(Exception):
    """A configuration that cannot be used. Printed as `FILE:LINE: message`, never a traceback."""

    def __init__(self, where: Where, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@record(frozen=True, slots=True)
class ScriptCommand:
    """A command line to run (notify scripts), with the user keepalived would run it as.

    `command` is the text as written (keepalived splits it like a shell word list, honouring
    quotes); `argv` is that split. `user`/`group` are None when the global default applies.
    """

    command: str
    argv: tuple[str, ...]
    user: str | None = None
    group: str | None = None
    where: Where = NOWHERE


@record(frozen=True, slots=True, shared=("dev", "brd", "scope", "label", "no_track", "peer", "options", "track_group",
                                         "vmac"))
class VirtualAddress:
    """One `virtual_ipaddress` (or `_excluded`, or `static_ipaddress`) entry.

    `dev` None means the instance's interface. `brd` is an address, or "+"/"-" as iproute2
    spells automatic broadcast. A bare address without prefix gets /32 or /128, as keepalived.
    """

    address: IPInterface
    dev: str | None = None
    brd: str | None = None
    scope: str | None = None
    label: str | None = None
    no_track: bool = False
    peer: str | None = None
    where: Where = NOWHERE
    # further `ip address add` words as written (noprefixroute, home, preferred_lft N, ...)
    options: tuple[str, ...] = ()
    track_group: str | None = None  # static_ipaddress only: the track_group whose instances watch `dev`
    vmac: str | None = None  # the address VMAC it lives on (use_vmac_addr / its use_vmac; config/vmac_addr.py)

    @property
    def ip(self) -> IPAddress:
        return self.address.ip

    @property
    def family(self) -> int:
        return self.address.version


_DEFAULT_ROUTE = ipaddress.IPv4Network("0.0.0.0/0")


@record(frozen=True, slots=True)
class VirtualRoute:
    """A `virtual_routes`/`static_routes` entry (config/routes.py reads the words).

    `type` is unicast, blackhole, unreachable or prohibit; `table` 254 is main; `scope` 0 is
    global (keepalived's default, measured); `words` are kept for messages and dumps."""

    words: tuple[str, ...]
    where: Where = NOWHERE
    dst: ipaddress.IPv4Network | ipaddress.IPv6Network = _DEFAULT_ROUTE
    type: str = "unicast"
    src: IPAddress | None = None
    via: IPAddress | None = None
    dev: str | None = None
    table: int = 254
    metric: int | None = None
    scope: int = 0
    onlink: bool = False
    no_track: bool = False
    track_group: str | None = None  # static_routes only: the track_group whose instances watch `dev`

    @property
    def family(self) -> int:
        return self.dst.version

    @property
    def text(self) -> str:
        return " ".join(self.words)


@record(frozen=True, slots=True)
class VirtualRule:
    """A `virtual_rules`/`static_rules` entry (config/routes.py reads the words).

    `action` is "table" (then `table` is set), blackhole, unreachable or prohibit; `priority`
    is 16384 when the line gives none (`priority_defaulted`), as keepalived sets it."""

    words: tuple[str, ...]
    where: Where = NOWHERE
    family: int = 4
    action: str = "table"
    table: int | None = None
    src: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    dst: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    priority: int = 16384
    priority_defaulted: bool = False
    fwmark: int | None = None
    fwmask: int | None = None
    iif: str | None = None
    oif: str | None = None
    invert: bool = False
    no_track: bool = False
    track_group: str | None = None  # static_rules only: the track_group whose instances watch `iif`

    @property
    def text(self) -> str:
        return " ".join(self.words)


@record(frozen=True, slots=True)
class TrackRef:
    """An instance's (or sync group's) reference to something it tracks.

    For `track_script`, `track_process` and `track_file`, `name` is the tracker's block name; for
    `track_interface` it is the interface name. `weight` None means "the tracker's own weight"
    (scripts, processes, files) or 0 (interfaces). `reverse` None likewise means "the tracker's".
    """

    name: str
    weight: int | None = None
    reverse: bool | None = None
    where: Where = NOWHERE


@record(frozen=True, slots=True)
class StaticTrackGroup:
    """A top-level `track_group NAME { group { VI_1 VI_2 } }`: the instances that track the
    interface of each static address, route or rule naming it (config/track_groups.py)."""

    name: str
    instances: tuple[str, ...] = ()
    where: Where = NOWHERE


@record(frozen=True, slots=True)
class VrrpScript:
    """A `vrrp_script` block: a command run every `interval`, judged by its exit status."""

    name: str
    script: str
    argv: tuple[str, ...]
    interval: float = 1.0
    timeout: float | None = None  # None: keepalived uses `interval`
    weight: int = 0
    reverse: bool = False
    rise: int = 1
    fall: int = 1
    user: str | None = None
    group: str | None = None
    init_fail: bool = False
    where: Where = NOWHERE


@record(frozen=True, slots=True)
class TrackProcess:
    """A `vrrp_track_process` block.

    `process` is the name (comm, at most 15 characters, matched exactly) or, with
    `full_command` or parameters, the executable path matched against argv[0]; `params` are the
    further arguments matched per `param_match` ("exact" when parameters are given without it).
    `quorum_max` None means unbounded. Delays are seconds; `delay` in the file sets both.
    """

    name: str
    process: str
    params: tuple[str, ...] = ()
    param_match: ParamMatch | None = None
    full_command: bool = False
    quorum: int = 1
    quorum_max: int | None = None
    fork_delay: float = 0.0
    terminate_delay: float = 0.0
    weight: int = 0
    reverse: bool = False
    where: Where = NOWHERE


@record(frozen=True, slots=True)
class TrackFile:
    """A `vrrp_track_file` block: an integer read from `file`, multiplied by the weight."""

    name: str
    file: str
    weight: int = 1
    reverse: bool = False
    init_file: int | None = None  # `init_file [VALUE] [overwrite]`: create the file with VALUE
    init_file_overwrite: bool = False
    where: Where = NOWHERE


@record(frozen=True, slots=True)
class Authentication:
    """VRRPv2 authentication. keepalived truncates `auth_pass` to 8 characters."""

    auth_type: Literal["PASS", "AH"]
    auth_pass: str
    where: Where = NOWHERE


@record(frozen=True, slots=True)
class Notifies:
    """The notify scripts of an instance or a sync group (None: not configured)."""

    master: ScriptCommand | None = None
    backup: ScriptCommand | None = None
    fault: ScriptCommand | None = None
    stop: ScriptCommand | None = None
    deleted: ScriptCommand | None = None
    master_rx_lower_pri: ScriptCommand | None = None
    generic: ScriptCommand | None = None  # `notify`: gets TYPE NAME STATE PRIORITY appended
    priority_changes: bool = False
    report_deleted: bool = False  # `notify_deleted` given (with or without a script): DELETED, not FAULT


@record(frozen=True, slots=True)
class Garp:
    """Gratuitous ARP / unsolicited NA timing, resolved against global defaults."""

    master_delay: float = 5.0
    master_repeat: int = 5
    master_refresh: float = 0.0
    master_refresh_repeat: int = 1
    lower_prio_delay: float = 5.0
    lower_prio_repeat: int = 5
    interval: float = 0.0  # vrrp_garp_interval: minimum spacing of GARPs on one interface
    na_interval: float = 0.0  # vrrp_gna_interval


@record(frozen=True, slots=True)
class GarpGroup:
    """A top-level `garp_group` block: the minimum time between two gratuitous ARPs
    (`garp_interval`) and between two unsolicited NAs (`gna_interval`) on its interfaces, shared
    by all of them (None: that kind is not spaced). vrrp/garp_pacing.py keeps the rule."""

    garp_interval: float | None
    gna_interval: float | None
    interfaces: tuple[str, ...]
    where: Where = NOWHERE


# What vrrp_instance blocks mostly have alike: kept once per combination (records' `shared=`), not
# in a slot of each of a thousand instances (issue 18: memory)
_INSTANCE_SHARED = (
    "state", "advert_int", "version", "family", "nopreempt", "preempt_delay", "down_timer_adverts",
    "authentication", "mcast_dst_ip", "unicast_peer_ttl", "unicast_ttl", "unicast_fault_no_peer",
    "check_unicast_src", "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules", "track_interface",
    "track_script", "track_process", "track_file", "notify", "garp", "lower_prio_no_advert",
    "higher_prio_send_advert", "dont_track_primary", "skip_check_adv_addr", "strict_mode", "accept", "use_vmac",
    "vmac_address", "vmac_xmit_base", "use_vmac_addr", "use_ipvlan", "ipvlan_address", "ipvlan_mode",
    "garp_extra_if", "garp_extra_if_all", "fast_handover", "smtp_alert", "witness", "sync_group", "extras",
)


@record(frozen=True, slots=True, shared=_INSTANCE_SHARED)
class Instance:
    """A `vrrp_instance` block, with every default resolved (most fields shared: _INSTANCE_SHARED)."""

    name: str
    interface: str
    virtual_router_id: int
    where: Where = NOWHERE
    state: Literal["MASTER", "BACKUP"] = "BACKUP"
    priority: int = 100
    advert_int: float = 1.0
    version: Literal[2, 3] = 2
    family: Literal[4, 6] = 4  # from the VIPs (native_ipv6 forces 6)
    nopreempt: bool = False
    preempt_delay: float = 0.0
    down_timer_adverts: int = 3
    authentication: Authentication | None = None
    mcast_src_ip: IPAddress | None = None
    mcast_dst_ip: IPAddress | None = None
    unicast_src_ip: IPAddress | None = None
    unicast_peers: tuple[IPAddress, ...] = ()
    # (peer, min_ttl, max_ttl) for peers given a TTL range: adverts outside it are dropped
    unicast_peer_ttl: tuple[tuple[IPAddress, int, int], ...] = ()
    unicast_ttl: int = 255
    unicast_fault_no_peer: bool = False
    check_unicast_src: bool = False
    virtual_ipaddress: tuple[VirtualAddress, ...] = ()
    virtual_ipaddress_excluded: tuple[VirtualAddress, ...] = ()
    virtual_routes: tuple[VirtualRoute, ...] = ()
    virtual_rules: tuple[VirtualRule, ...] = ()
    track_interface: tuple[TrackRef, ...] = ()
    track_script: tuple[TrackRef, ...] = ()
    track_process: tuple[TrackRef, ...] = ()
    track_file: tuple[TrackRef, ...] = ()
    notify: Notifies = factory(Notifies)
    garp: Garp = factory(Garp)
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    dont_track_primary: bool = False
    skip_check_adv_addr: bool = False
    strict_mode: bool = False
    accept: bool | None = None  # accept / no_accept; None: keepalived's default for the mode
    use_vmac: str | None = None  # the VMAC interface name ("" when defaulted to vrrp.VRID)
    vmac_address: str | None = None  # use_vmac's MAC as written (5 or 6 octets); None: 00:00:5e:00:0X:VRID
    vmac_xmit_base: bool = False
    use_vmac_addr: bool = False  # VIPs on other interfaces (or of the other family) get VMACs of their own
    use_ipvlan: str | None = None  # the ipvlan interface name ("" when defaulted to vrrp.VRID)
    ipvlan_address: IPInterface | None = None  # put on the ipvlan; the adverts' source address
    ipvlan_mode: str = "bridge"  # bridge, private or vepa (the ipvlan's flags; mode is always L2)
    # a GARP/NA every so many seconds (0: never) on the other interfaces of the VIPs: the VMACs
    # among them, or all of them with `all` (vrrp/garp_extra_if.py)
    garp_extra_if: float = 0.0
    garp_extra_if_all: bool = False
    fast_handover: bool = False  # vipkeeper extension: take over at once on a priority-0 advert
    smtp_alert: bool = False  # mail on each transition (resolved: instance, smtp_alert_vrrp, smtp_alert)
    witness: str | None = None  # vipkeeper extension: the vipkeeper_witness guarding the VIPs
    sync_group: str | None = None  # filled in from vrrp_sync_group membership
    extras: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def vmac_interface(self) -> str | None:
        """The VMAC (`use_vmac`) or ipvlan (`use_ipvlan`) this instance's VIPs live on, None
        without one; keepalived names both vrrp.VRID by default."""
        name = self.use_ipvlan if self.use_ipvlan is not None else self.use_vmac
        if name is None:
            return None
        return name or f"vrrp.{self.virtual_router_id}"

    @property
    def address_vmacs(self) -> tuple[tuple[str, str, int], ...]:
        """(name, parent, family) of each address VMAC the VIPs live on (config/vmac_addr.py)."""
        out: dict[str, tuple[str, str, int]] = {}
        for vip in self.virtual_ipaddress + self.virtual_ipaddress_excluded:
            if vip.vmac:
                out.setdefault(vip.vmac, (vip.vmac, vip.dev or self.interface, vip.family))
        return tuple(out.values())

    @property
    def socket_interface(self) -> str:
        """Where adverts are sent and received: the VMAC, unless vmac_xmit_base (or no VMAC)."""
        return self.vmac_interface if self.vmac_interface and not self.vmac_xmit_base else self.interface

    @property
    def is_unicast(self) -> bool:
        return bool(self.unicast_peers)

    @property
    def source_address(self) -> IPAddress | None:
        """The address adverts are sent from when configured (else the interface's primary);
        keepalived takes the ipvlan's address when neither is given."""
        return self.unicast_src_ip or self.mcast_src_ip or (self.ipvlan_address.ip if self.ipvlan_address else None)


@record(frozen=True, slots=True)
class SyncGroup:
    """A `vrrp_sync_group`: member instances that change state together."""

    name: str
    group: tuple[str, ...]
    where: Where = NOWHERE
    notify: Notifies = factory(Notifies)
    track_interface: tuple[TrackRef, ...] = ()
    track_script: tuple[TrackRef, ...] = ()
    track_process: tuple[TrackRef, ...] = ()
    track_file: tuple[TrackRef, ...] = ()
    sync_group_tracking_weight: bool = False
    smtp_alert: bool = False
    witness: str | None = None  # vipkeeper extension: one witness key for the whole group


@record(frozen=True, slots=True)
class Witness:
    """A `vipkeeper_witness` block (vipkeeper extension): an etcd cluster whose key a router
    must hold, under a lease of its own, to hold its VIPs (witness/claim.py says how)."""

    name: str
    endpoints: tuple[str, ...]
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    prefix: str = "/vipkeeper"
    lease_ttl: int = 3  # seconds (etcd leases are whole seconds)
    lease_margin: float = 0.2  # seconds the VIPs go before the earliest possible expiry in etcd
    policy: str = "fail_closed"  # or fail_open: plain VRRP, reported degraded, without etcd
    timeout: float = 0.0  # one request's answer; 0: a third of lease_ttl, at most 1 s
    where: Where = NOWHERE

    @property
    def request_timeout(self) -> float:
        return self.timeout or min(1.0, self.lease_ttl / 3)


@record(frozen=True, slots=True)
class GlobalDefs:
    """The VRRP-related part of `global_defs`, plus vipkeeper's own keywords."""

    router_id: str | None = None
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    vrrp_version: Literal[2, 3] = 2
    vrrp_mcast_group4: ipaddress.IPv4Address = ipaddress.IPv4Address("224.0.0.18")
    vrrp_mcast_group6: ipaddress.IPv6Address = ipaddress.IPv6Address("ff02::12")
    vrrp_strict: bool = False
    dynamic_interfaces: bool = False
    vrrp_startup_delay: float = 0.0
    vrrp_down_timer_adverts: int = 3
    vrrp_skip_check_adv_addr: bool = False
    vrrp_notify_priority_changes: bool = False
    vrrp_min_garp: bool = False
    garp: Garp = factory(Garp)
    vrrp_garp_extra_if: float = 0.0  # default of the instances' garp_extra_if (0: off)
    vrrp_garp_extra_if_all: bool = False
    notify_fifo: ScriptCommand | None = None  # the fifo path in `command`
    notify_fifo_script: ScriptCommand | None = None
    vrrp_notify_fifo: ScriptCommand | None = None
    vrrp_notify_fifo_script: ScriptCommand | None = None
    process_monitor_rcv_bufs: int | None = None
    max_auto_priority: int | None = None
    vrrp_lower_prio_no_advert: bool = False  # defaults for the instance keywords of the same name
    vrrp_higher_prio_send_advert: bool = False
    vrrp_check_unicast_src: bool = False
    # mail alerts (notify/mail.py): None means keepalived's default, resolved where it is used
    # (router_id and the sender default to the host name, the HELO name too)
    notification_email: tuple[str, ...] = ()
    notification_email_from: str | None = None
    smtp_server: tuple[str, int] | None = None  # host or address as written, port (25)
    smtp_helo_name: str | None = None
    smtp_connect_timeout: float = 30.0
    smtp_alert: bool | None = None
    smtp_alert_vrrp: bool | None = None
    no_email_faults: bool = False
    # firewall (net/firewall.py): the nftables table name (`nftables [NAME]`, `vrrp_iptables`
    # maps to it as in Debian's keepalived 2.2.7), the base chains' priority, counters
    nftables: str | None = None
    nftables_priority: int = -1
    nftables_counters: bool = False
    # process tuning (daemon/tuning.py), keepalived's vrrp_* keywords for its VRRP process
    vrrp_rt_priority: int | None = None  # SCHED_RR priority 1..99
    vrrp_priority: int | None = None  # nice -20..19 (not applied with vrrp_rt_priority, as keepalived)
    vrrp_no_swap: bool = False
    vrrp_cpu_affinity: tuple[int, ...] = ()
    vrrp_rlimit_rttime: int = 10000  # µs of CPU a real-time process may use without blocking
    # run once before VRRP starts / after it stops (daemon/lifecycle_scripts.py)
    startup_script: ScriptCommand | None = None
    startup_script_timeout: float = 10.0
    shutdown_script: ScriptCommand | None = None
    shutdown_script_timeout: float = 10.0
    log_unknown_vrids: bool = False  # log adverts for VRIDs without an instance (keepalived's line)
    umask: int | None = None  # the daemon's umask (files it creates: dumps, fifos)
    # vipkeeper's own (keepalived would warn about them as unknown; `check` says they are ours)
    default_interface: str = "eth0"  # where static_ipaddress entries without `dev` go (keepalived's default)
    control_socket: str | None = None
    metrics_listen: str | None = None
    # `vipkeeper_run_without FEATURE...`: features vipkeeper lacks that the admin accepts running
    # without (each otherwise makes the configuration an error; keywords.REFUSABLE lists them)
    run_without: tuple[str, ...] = ()
    extras: tuple[tuple[str, tuple[str, ...]], ...] = ()


@record(frozen=True, slots=True)
class Config:
    """A whole configuration: the result of `config.load()`.

    Trackers and scripts are tuples in file order; the lookup helpers keep consumers from
    building their own dictionaries.
    """

    files: tuple[str, ...]
    global_defs: GlobalDefs = factory(GlobalDefs)
    instances: tuple[Instance, ...] = ()
    sync_groups: tuple[SyncGroup, ...] = ()
    scripts: tuple[VrrpScript, ...] = ()
    track_processes: tuple[TrackProcess, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    witnesses: tuple[Witness, ...] = ()
    static_addresses: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[VirtualRoute, ...] = ()
    # (ifname, down delay, up delay) s: a link change is acted on only if it lasts that long
    interface_up_down_delays: tuple[tuple[str, float, float], ...] = ()
    garp_groups: tuple[GarpGroup, ...] = ()  # spacing of GARPs/NAs per interface
    static_rules: tuple[VirtualRule, ...] = ()
    track_groups: tuple[StaticTrackGroup, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    def instance(self, name: str) -> Instance | None:
        return next((i for i in self.instances if i.name == name), None)

    def script(self, name: str) -> VrrpScript | None:
        return next((s for s in self.scripts if s.name == name), None)

    def track_process(self, name: str) -> TrackProcess | None:
        return next((p for p in self.track_processes if p.name == name), None)

    def track_file(self, name: str) -> TrackFile | None:
        return next((f for f in self.track_files if f.name == name), None)

    def witness(self, name: str) -> Witness | None:
        return next((w for w in self.witnesses if w.name == name), None)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def usable(self) -> bool:
        """keepalived -t's verdict: usable when no diagnostic is an error."""
        return not self.errors
