"""keepalived 2.2.7's dump files, formatted from the daemon's snapshot (Runtime.snapshot()).

Rule: exporters and runbooks parse what keepalived writes on SIGUSR1 (/tmp/keepalived.data),
SIGUSR2 (/tmp/keepalived.stats) and its JSON signal (/tmp/keepalived.json); the files written on
those signals keep keepalived's section headers, line wording and indentation for every fact
vipkeeper has, so a parser keyed on `   State = MASTER` or `    Sent: 12` reads vipkeeper's files
unchanged. Layouts were taken from keepalived 2.2.7 run in a namespace
(tests/net/test_keepalived_dumps.py compares them section by section).

Pure formatting: no file, clock or socket here. Lines keepalived prints about things vipkeeper
does not have are not invented; NOT_PRODUCED names them and says why.
"""

from __future__ import annotations

import json
import time
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

SECTION = "------< {} >------"

# keepalived's names for auth_type in the data dump (vrrp_print.c; "none" measured)
AUTH_NAMES = {"none": "none", "PASS": "SIMPLE_PASSWORD", "AH": "IPSEC_AH"}

# keepalived's vrrp.h state numbers, used by its JSON dump
STATE_NUMBERS = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 98}

# Sections of keepalived's data dump that vipkeeper does not write, and why.
NOT_PRODUCED_SECTIONS: dict[str, str] = {
    "VRRP Sockpool": "keepalived's socket pool (fd numbers); vipkeeper's sockets are its own business",
    "Interfaces": "a copy of the kernel's interface table: `ip -d addr` tells the same",
}
# Lines of keepalived's data dump (by how they start, stripped) that vipkeeper does not write.
NOT_PRODUCED: list[tuple[str, str]] = [
    *((p, "keepalived's other subsystems (LVS, checkers, BFD, SNMP, DBus, SMTP): absent in vipkeeper")
      for p in ("Network namespace ipvs", "Default smtp_alert", "Checkers log all failures", "LVS flush",
                "SNMP", "DBus", "rs_init_notifies", "no_checker_emails", "Checker ", "BFD ",
                "lvs_netlink", "Using smtp notification")),
    *((p, ("keepalived tuning knobs vipkeeper does not have (netlink buffers, scheduling, nftables, "
           "IGMP, VMAC GARPs, dynamic interfaces, default interface)"))
      for p in ("vrrp_netlink", "process_monitor_rcv_bufs", "rx_bufs_multiples", "VRRP process priority",
                "VRRP don't swap", "VRRP realtime", "nftables", "libnftnl", "Disable local IGMP",
                "Gratuitous ARP for each secondary VMAC", "Dynamic interfaces", "Default interface",
                "No test config before reload", "Max auto priority", "Min auto priority delay",
                "FIFO write vrrp states on reload", "Next gratuitous ARP for such secondary",
                "umask", "Default script uid:gid", "Promote_secondaries")),
    *((p, ("keepalived internals (scheduler threads, fds, fault counters) with no vipkeeper counterpart; "
           "vipkeeper's timers and trackers are in `vipkeeper status --json`"))
      for p in ("Flags:", "Number of config faults", "Number of interface and track script faults",
                "Number of track scripts init", "Read timeout", "Master down timer", "fd_in",
                "Notify deleted", "Notify priority changes", "Total priority")),
    ("Password", "the VRRP password is not written into dump files (keepalived writes it in clear)"),
]
# Keys of keepalived's JSON dump that vipkeeper leaves out, and why.
JSON_NOT_PRODUCED: dict[str, str] = {
    "auth_data": "the VRRP password is not written into dump files (keepalived writes it in clear)",
}


def _ts(epoch: float) -> str:
    frac = f"{epoch % 1:.6f}"[1:]
    return f"{epoch:.6f} ({time.strftime('%a %b %d %H:%M:%S', time.localtime(epoch))}{frac} " \
           f"{time.strftime('%Y', time.localtime(epoch))})"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _interval(seconds: float, version: int) -> str:
    """keepalived 2.2.7 (measured): VRRPv2 `1 sec`, VRRPv3 `1000 milli-sec`."""
    if version == 2:
        return f"{round(seconds)} sec"
    return f"{round(seconds * 1000)} milli-sec"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _vip_line(vip: dict[str, Any]) -> str:
    return f"{vip['address']} dev {vip['dev']} scope global" + (" set" if vip.get("present") else "")


def global_lines(snapshot: dict[str, Any]) -> list[str]:
    g = snapshot.get("global_defs", {})
    garp = g.get("garp", {})
    lines = [SECTION.format("Global definitions")]
    if snapshot["daemon"].get("netns"):
        lines.append(f" Network namespace = {snapshot['daemon']['netns']}")
    else:
        lines.append(" Network namespace = (default)")
    if g.get("router_id"):
        lines.append(f" Router ID = {g['router_id']}")
    lines += [
        f" VRRP notify priority changes = {_bool(g.get('vrrp_notify_priority_changes', False))}",
        f" VRRP IPv4 mcast group = {g.get('vrrp_mcast_group4', '224.0.0.18')}",
        f" VRRP IPv6 mcast group = {g.get('vrrp_mcast_group6', 'ff02::12')}",
        f" Gratuitous ARP delay = {_num(garp.get('master_delay', 5))}",
        f" Gratuitous ARP repeat = {garp.get('master_repeat', 5)}",
        f" Gratuitous ARP refresh timer = {_num(garp.get('master_refresh', 0))}",
        f" Gratuitous ARP refresh repeat = {garp.get('master_refresh_repeat', 1)}",
        f" Gratuitous ARP lower priority delay = {_num(garp.get('lower_prio_delay', 5))}",
        f" Gratuitous ARP lower priority repeat = {garp.get('lower_prio_repeat', 5)}",
        f" Num adverts before down = {g.get('vrrp_down_timer_adverts', 3)}",
        f" Send advert after receive lower priority advert = {_bool(not g.get('vrrp_lower_prio_no_advert', False))}",
        f" Send advert after receive higher priority advert = {_bool(g.get('vrrp_higher_prio_send_advert', False))}",
        f" Gratuitous ARP interval = {float(garp.get('interval', 0)):f}",
        f" Gratuitous NA interval = {float(garp.get('na_interval', 0)):f}",
        f" VRRP default protocol version = {g.get('vrrp_version', 2)}",
        f" VRRP check unicast_src = {_bool(g.get('vrrp_check_unicast_src', False))}",
        f" VRRP skip check advert addresses = {_bool(g.get('vrrp_skip_check_adv_addr', False))}",
        f" VRRP strict mode = {_bool(g.get('vrrp_strict', False))}",
        f" Script security {'enabled' if g.get('enable_script_security') else 'disabled'}",
    ]
    return lines


def instance_lines(inst: dict[str, Any]) -> list[str]:
    garp = inst.get("garp", {})
    lines = [
        f" VRRP Instance = {inst['name']}",
        f"   VRRP Version = {inst['version']}",
        f"   State = {inst['state']}",
        f"   Wantstate = {inst['state']}",
        f"   Last transition = {_ts(inst['since'])}",
        f"   Interface = {inst['interface']}",
    ]
    if inst.get("source_address"):
        lines.append(f"   Using src_ip = {inst['source_address']}")
    if inst.get("unicast"):
        lines.append("   Unicast Peers:")
        lines += [f"     {peer}" for peer in inst.get("unicast_peers", [])]
    elif inst.get("mcast_group"):
        lines.append(f"   Multicast address {inst['mcast_group']}")
    lines += [
        f"   Gratuitous ARP delay = {_num(garp.get('master_delay', 5))}",
        f"   Gratuitous ARP repeat = {garp.get('master_repeat', 5)}",
        f"   Gratuitous ARP refresh = {_num(garp.get('master_refresh', 0))}",
        f"   Gratuitous ARP refresh repeat = {garp.get('master_refresh_repeat', 1)}",
        f"   Gratuitous ARP lower priority delay = {_num(garp.get('lower_prio_delay', 5))}",
        f"   Gratuitous ARP lower priority repeat = {garp.get('lower_prio_repeat', 5)}",
        f"   Down timer adverts = {inst.get('down_timer_adverts', 3)}",
        f"   Send advert after receive lower priority advert = {_bool(not inst.get('lower_prio_no_advert', False))}",
        f"   Send advert after receive higher priority advert = {_bool(inst.get('higher_prio_send_advert', False))}",
        f"   Virtual Router ID = {inst['vrid']}",
        f"   Priority = {inst['base_priority']}",
        f"   Effective priority = {inst['effective_priority']}",
        f"   Advert interval = {_interval(inst['advert_int'], inst['version'])}",
    ]
    if inst.get("accept") is not None:
        lines.append(f"   Accept = {'enabled' if inst['accept'] else 'disabled'}")
    if inst.get("nopreempt"):
        lines.append("   Preempt = disabled")
    else:
        lines.append("   Preempt = enabled")
    if inst.get("preempt_delay"):
        lines.append(f"   Preempt delay = {_num(inst['preempt_delay'])} secs")
    if inst["version"] == 2:  # keepalived prints no authentication line for VRRPv3
        lines.append(f"   Authentication type = {AUTH_NAMES.get(inst.get('auth_type') or 'none', 'none')}")
    vips = inst.get("vips", [])
    if vips:
        lines.append(f"   Virtual IP ({len(vips)}):")
        lines += [f"     {_vip_line(v)}" for v in vips]
    if inst.get("sync_group"):
        lines.append(f"   Sync group = {inst['sync_group']}")
    return lines


def data_text(snapshot: dict[str, Any]) -> str:
    """SIGUSR1: /tmp/keepalived.data."""
    lines = global_lines(snapshot)
    lines.append(SECTION.format("VRRP Topology"))
    for inst in snapshot["instances"]:
        lines += instance_lines(inst)
    return "\n".join(lines) + "\n"


def stats_text(snapshot: dict[str, Any]) -> str:
    """SIGUSR2 and STATS_CLEAR: /tmp/keepalived.stats."""
    lines: list[str] = []
    for inst in snapshot["instances"]:
        c = inst["counters"]
        d = c.get("drops", {})
        lines += [
            f"VRRP Instance: {inst['name']}",
            "  Advertisements:",
            f"    Received: {c['adverts_received']}",
            f"    Sent: {c['adverts_sent']}",
            f"  Became master: {c['became_master']}",
            f"  Released master: {c.get('released_master', 0)}",
            "  Packet Errors:",
            f"    Length: {d.get('bad_length', 0) + d.get('truncated', 0)}",
            f"    TTL: {d.get('bad_ttl', 0)}",
            f"    Invalid Type: {d.get('bad_type', 0)}",
            f"    Advertisement Interval: {d.get('interval_mismatch', 0)}",
            f"    Address List: {d.get('vip_mismatch', 0) + d.get('address_count_mismatch', 0)}",
            "  Authentication Errors:",
            f"    Invalid Type: {d.get('bad_auth_type', 0)}",
            f"    Type Mismatch: {d.get('auth_type_mismatch', 0)}",
            f"    Failure: {d.get('auth_mismatch', 0)}",
            "  Priority Zero:",
            f"    Received: {c['priority_zero_received']}",
            f"    Sent: {c['priority_zero_sent']}",
        ]
    return "\n".join(lines) + "\n"


def json_records(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON signal: keepalived 2.2.7's array of {"data": ..., "stats": ...}, one per instance."""
    out = []
    for inst in snapshot["instances"]:
        garp = inst.get("garp", {})
        c = inst["counters"]
        d = c.get("drops", {})
        master = inst.get("master") or {}
        state = STATE_NUMBERS.get(inst["state"], 0)
        data = {
            "iname": inst["name"],
            "dont_track_primary": int(inst.get("dont_track_primary", False)),
            "skip_check_adv_addr": int(inst.get("skip_check_adv_addr", False)),
            "strict_mode": int(inst.get("strict_mode", False)),
            "vmac_ifname": (inst.get("vmac") or {}).get("interface", ""),
            "ifp_ifname": inst["interface"],
            "master_priority": 0 if inst["state"] == "MASTER" else max(master.get("priority", 0), 0),
            "last_transition": round(inst["since"], 6),
            "garp_delay": garp.get("master_delay", 5),
            "garp_refresh": garp.get("master_refresh", 0),
            "garp_rep": garp.get("master_repeat", 5),
            "garp_refresh_rep": garp.get("master_refresh_repeat", 1),
            "garp_lower_prio_delay": garp.get("lower_prio_delay", 5),
            "garp_lower_prio_rep": garp.get("lower_prio_repeat", 5),
            "lower_prio_no_advert": int(inst.get("lower_prio_no_advert", False)),
            "higher_prio_send_advert": int(inst.get("higher_prio_send_advert", False)),
            "vrid": inst["vrid"],
            "base_priority": inst["base_priority"],
            "effective_priority": inst["effective_priority"],
            "vipset": any(v.get("present") for v in inst.get("vips", [])),
            "promote_secondaries": False,
            "adver_int": inst["advert_int"],
            "master_adver_int": inst["master_adver_int"],
            "accept": int(bool(inst.get("accept"))),
            "nopreempt": bool(inst.get("nopreempt", False)),
            "preempt_delay": inst.get("preempt_delay", 0),
            "state": state,
            "wantstate": state,
            "version": inst["version"],
            "smtp_alert": bool(inst.get("smtp_alert", False)),
            "notify_deleted": False,
            "vips": [_vip_line(v) for v in inst.get("vips", [])],
            "auth_type": {"none": 0, "PASS": 1, "AH": 2}.get(inst.get("auth_type") or "none", 0),
        }
        stats = {
            "advert_rcvd": c["adverts_received"],
            "advert_sent": c["adverts_sent"],
            "become_master": c["became_master"],
            "release_master": c.get("released_master", 0),
            "packet_len_err": d.get("bad_length", 0) + d.get("truncated", 0),
            "advert_interval_err": d.get("interval_mismatch", 0),
            "ip_ttl_err": d.get("bad_ttl", 0),
            "invalid_type_rcvd": d.get("bad_type", 0),
            "addr_list_err": d.get("vip_mismatch", 0) + d.get("address_count_mismatch", 0),
            "invalid_authtype": d.get("bad_auth_type", 0),
            "authtype_mismatch": d.get("auth_type_mismatch", 0),
            "auth_failure": d.get("auth_mismatch", 0),
            "pri_zero_rcvd": c["priority_zero_received"],
            "pri_zero_sent": c["priority_zero_sent"],
        }
        out.append({"data": data, "stats": stats})
    return out


def _whole(value: Any) -> Any:
    """keepalived prints 5, not 5.0: floats that are whole numbers become ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def json_text(snapshot: dict[str, Any]) -> str:
    records = [{"data": {k: (v if k == "last_transition" else _whole(v)) for k, v in r["data"].items()},
                "stats": r["stats"]} for r in json_records(snapshot)]
    return json.dumps(records, separators=(",", ":"))
