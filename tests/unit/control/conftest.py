"""A snapshot in the shape of .notes/snapshot-schema.md, shared by the control tests."""

from __future__ import annotations

import copy

import pytest

NOW = 1_700_000_000.0

SAMPLE = {
    "daemon": {"pid": 4242, "version": "0.1.0", "config": "/etc/keepalived/keepalived.conf",
               "started": NOW - 7530.0, "now": NOW, "netns": None,
               "process_tracking": "connector", "reloads": 2, "reload_failures": 1,
               "last_reload_error": "keepalived.conf:12: unknown keyword",
               "mail": {"configured": True, "sent": 3, "failed": 1, "in_flight": 0,
                        "last_error": "Timeout opening connection to remote SMTP server [192.0.2.9]:25."},
               "firewall": {"table": "keepalived", "blocked": {"VI_1": ["192.0.2.10"]}},
               "loop": {"last": 0.0002, "max": 0.31, "sum": 1.5, "count": 1000, "late": 2,
                        "late_threshold": 0.1, "log_lines_suppressed": 1,
                        "buckets": [[0.0001, 400], [0.00025, 900], [0.1, 998], [0.25, 999], [0.5, 1000]],
                        "watchdog_interval": 2.5, "watchdog_pings": 7}},
    "instances": [
        {"name": "VI_1", "state": "MASTER", "since": NOW - 192.0, "interface": "eth0", "vrid": 51,
         "version": 3, "family": 4, "unicast": False, "base_priority": 100,
         "effective_priority": 150, "advert_int": 1.0, "master_adver_int": 1.0,
         "master": None,
         "vips": [{"address": "192.0.2.25/24", "dev": "eth0", "present": True},
                  {"address": "192.0.2.26/24", "dev": "eth0", "present": False}],
         "trackers": [
             {"kind": "process", "name": "haproxy", "state": "up", "weight": 50, "reverse": False,
              "contribution": 50, "fault": False, "since": NOW - 65.0},
             {"kind": "script", "name": "chk_dns", "state": "down", "weight": -20, "reverse": False,
              "contribution": 0, "fault": False, "since": None},
         ],
         "counters": {"adverts_sent": 1234, "adverts_received": 7, "priority_zero_sent": 0,
                      "priority_zero_received": 1, "transitions": 3, "became_master": 2,
                      "vip_conflicts": 1, "drops": {"ttl": 3, "auth": 0, "vrid": 5}},
         "vip_conflicts": [{"address": "192.0.2.25", "mac": "02:00:00:00:00:0b", "since": NOW - 3.0,
                            "peer": "192.0.2.2 (VRID 51, priority 150)"}],
         "sync_group": None},
        {"name": "VI_6", "state": "BACKUP", "since": NOW - 4.5, "interface": "eth1", "vrid": 52,
         "version": 3, "family": 6, "unicast": True, "base_priority": 90,
         "effective_priority": 90, "advert_int": 1.0, "master_adver_int": 1.0,
         "master": {"address": "2001:db8::1", "priority": 200, "last_heard": NOW - 0.4},
         "vips": [{"address": "2001:db8::25/64", "dev": "eth1", "present": False}],
         "trackers": [],
         "counters": {"adverts_sent": 0, "adverts_received": 99, "priority_zero_sent": 0,
                      "priority_zero_received": 0, "transitions": 1, "became_master": 0,
                      "drops": {}},
         "sync_group": "G1",
         "socket": {"open": True, "ifindex": 3, "fault": None, "reopens": 1, "send_errors": 2,
                    "receive_errors": 0, "announce_errors": 0, "errors": {"send_enodev": 2}}},
    ],
    "process_tracker": {"mode": "connector", "events": 5000, "rescans": 2, "enobufs": 1, "shortages": 3,
                        "tracked": [{"name": "haproxy", "count": 4, "quorum": True}]},
    "scripts": [{"name": "chk_dns", "state": "down", "runs": 10, "failures": 4, "timeouts": 1,
                 "last_duration": 0.25, "last_exit": 1}],
    "drops": {"checksum": 2, "no_instance": 9},
    "witnesses": [{"name": "VI_1", "witness": "etcd", "key": "/vipkeeper/instance/VI_1", "owner": "lb1",
                   "holder": "lb1", "holding": True, "wanted": True, "lease": "694d8a1c2b3e4f10",
                   "lease_remaining": 1.4, "lease_ttl": 2, "policy": "fail_closed", "reachable": True,
                   "degraded": False, "endpoint": "http://192.0.2.11:2379", "acquisitions": 3,
                   "leases_lost": 1, "io_failures": 2, "watch_events": 7, "last_acquire_seconds": 0.004}],
}


@pytest.fixture
def snapshot() -> dict:
    return copy.deepcopy(SAMPLE)
