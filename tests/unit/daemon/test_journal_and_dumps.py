"""Log ident, journald's native protocol (to a socket bound at a test path) and keepalived's
dump layouts formatted from a snapshot."""

from __future__ import annotations

import json
import logging
import socket
import struct

from vipkeeper.daemon import keepalived_dump, logsetup


def parse_journal(datagram: bytes) -> dict[str, str]:
    """journald's native format, read back: KEY=value lines, or KEY\\n + u64 length + bytes."""
    fields, i = {}, 0
    while i < len(datagram):
        nl = datagram.index(b"\n", i)
        line = datagram[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            fields[key.decode()] = value.decode()
            i = nl + 1
        else:
            size = struct.unpack("<Q", datagram[nl + 1:nl + 9])[0]
            fields[line.decode()] = datagram[nl + 9:nl + 9 + size].decode()
            assert datagram[nl + 9 + size:nl + 10 + size] == b"\n"
            i = nl + 10 + size
    return fields


def test_state_lines_reach_the_journal_with_instance_state_and_vrid(tmp_path) -> None:
    path = str(tmp_path / "journal.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2.0)
    root = logging.getLogger("vipkeeper")
    saved = (list(root.handlers), root.propagate, root.level)
    try:
        logsetup.configure(console=False, syslog=True, facility="local0", ident=logsetup.KEEPALIVED_IDENT,
                           journal_socket=path)
        logging.getLogger("vipkeeper.vrrp").info("%s", "(VI_1) Entering MASTER STATE", extra={"vrid": 51})
        logging.getLogger("vipkeeper.daemon").warning("two\nlines")
        first = parse_journal(server.recv(65536))
        second = parse_journal(server.recv(65536))
    finally:
        server.close()
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved[0]
        root.propagate, root.level = saved[1], saved[2]
    assert first == {"MESSAGE": "(VI_1) Entering MASTER STATE", "PRIORITY": "6",
                     "SYSLOG_IDENTIFIER": "Keepalived_vrrp", "SYSLOG_FACILITY": "16",
                     "SYSLOG_PID": first["SYSLOG_PID"], "VRRP_INSTANCE": "VI_1", "VRRP_STATE": "MASTER",
                     "VRRP_VRID": "51"}
    assert int(first["SYSLOG_PID"]) > 0
    assert second["MESSAGE"] == "two\nlines" and second["PRIORITY"] == "4" and "VRRP_STATE" not in second


def test_console_ident_follows_the_command_line() -> None:
    record = logging.LogRecord("vipkeeper.vrrp", logging.INFO, __file__, 1, "(VI_1) Entering BACKUP STATE", None, None)
    assert " Keepalived_vrrp[" in logsetup.ConsoleFormatter(logsetup.KEEPALIVED_IDENT).format(record)
    assert " vipkeeper[" in logsetup.ConsoleFormatter().format(record)


SNAP = {
    "daemon": {"netns": None},
    "global_defs": {"router_id": "node1", "vrrp_version": 2, "garp": {"master_delay": 5.0, "master_repeat": 5,
                    "master_refresh": 0.0, "master_refresh_repeat": 1, "lower_prio_delay": 5.0,
                    "lower_prio_repeat": 5}},
    "instances": [{
        "name": "VI_1", "state": "BACKUP", "since": 1796036450.310908, "interface": "eth0", "vrid": 51,
        "version": 3, "base_priority": 100, "effective_priority": 90, "advert_int": 0.5,
        "master_adver_int": 1.0, "master": {"address": "192.0.2.2", "priority": 150, "last_heard": 0.0},
        "vips": [{"address": "192.0.2.50/24", "dev": "eth0", "present": False}],
        "counters": {"adverts_sent": 3, "adverts_received": 7, "priority_zero_sent": 1,
                     "priority_zero_received": 2, "transitions": 3, "became_master": 1, "released_master": 1,
                     "drops": {"bad_ttl": 4, "auth_mismatch": 5, "interval_mismatch": 6}},
        "source_address": "192.0.2.1", "mcast_group": "224.0.0.18", "unicast": False, "unicast_peers": [],
        "garp": {"master_delay": 5.0, "master_repeat": 5, "master_refresh": 0.0, "master_refresh_repeat": 1,
                 "lower_prio_delay": 5.0, "lower_prio_repeat": 5},
        "accept": True, "nopreempt": False, "preempt_delay": 0.0, "auth_type": None,
    }],
}


def test_data_dump_lines() -> None:
    text = keepalived_dump.data_text(SNAP)
    lines = text.splitlines()
    assert lines[0] == "------< Global definitions >------" and " Router ID = node1" in lines
    topo = lines[lines.index("------< VRRP Topology >------") + 1:]
    assert topo[:4] == [" VRRP Instance = VI_1", "   VRRP Version = 3", "   State = BACKUP", "   Wantstate = BACKUP"]
    assert "   Advert interval = 500 milli-sec" in topo and "   Effective priority = 90" in topo
    assert "     192.0.2.50/24 dev eth0 scope global" in topo  # not " set": we do not hold it
    assert not any(x.startswith("   Authentication") for x in topo)  # VRRPv3: keepalived prints none


def test_stats_dump_maps_drop_reasons_to_keepalived_counters() -> None:
    lines = keepalived_dump.stats_text(SNAP).splitlines()
    assert lines[:4] == ["VRRP Instance: VI_1", "  Advertisements:", "    Received: 7", "    Sent: 3"]
    assert lines[lines.index("  Packet Errors:") + 2] == "    TTL: 4"
    assert lines[lines.index("  Packet Errors:") + 4] == "    Advertisement Interval: 6"
    assert lines[lines.index("  Authentication Errors:") + 3] == "    Failure: 5"
    assert lines[-3:] == ["  Priority Zero:", "    Received: 2", "    Sent: 1"]


def test_json_dump_is_keepalived_2_2_7_array() -> None:
    records = json.loads(keepalived_dump.json_text(SNAP))
    assert isinstance(records, list) and set(records[0]) == {"data", "stats"}
    data, stats = records[0]["data"], records[0]["stats"]
    assert data["state"] == 1 and data["master_priority"] == 150 and data["vipset"] is False
    assert data["garp_delay"] == 5 and isinstance(data["garp_delay"], int)
    assert stats["release_master"] == 1 and stats["ip_ttl_err"] == 4


def test_facility_codes_are_syslogs() -> None:
    """logsetup's own table (it avoids importing logging.handlers at start) agrees with the library's."""
    import logging.handlers

    from vipkeeper.daemon import logsetup

    assert set(logsetup.FACILITY_CODES) == set(logsetup.FACILITIES.values())
    for name, code in logsetup.FACILITY_CODES.items():
        assert logging.handlers.SysLogHandler.facility_names[name] == code
