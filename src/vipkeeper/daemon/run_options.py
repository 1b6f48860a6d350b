"""The daemon's options (`vipkeeper run`'s and keepalived's command lines both end in them).

Apart from daemon/runtime.py so that starting the daemon (daemon/start.py) does not import the
runtime, and with it the event loop, before it has read its file and opened its sockets.
"""

from __future__ import annotations

from vipkeeper.records import record


@record
class RunOptions:
    config_file: str
    config_id: str | None = None
    netns: str | None = None
    pid_file: str | None = None
    control_socket: str | None = None
    metrics_listen: str | None = None
    # keepalived's dump files (text, text, JSON array: daemon/keepalived_dump.py) and vipkeeper's
    # own JSON snapshot, written on SIGUSR1 beside the text dump (daemon/dumpfile.py: never through
    # a planted file or link).
    data_file: str = "/tmp/keepalived.data"
    stats_file: str = "/tmp/keepalived.stats"
    json_file: str = "/tmp/keepalived.json"
    snapshot_file: str | None = "/run/vipkeeper/vipkeeper.json"
    # keepalived -V: leave VIPs in place and send no priority 0 at stop
    release_on_stop: bool = True
    process_rescan_interval: float = 0.2
    reload_parse_deadline: float = 30.0  # s a reload's parse may take before it is given up
    vip_conflict_interval: float = 10.0  # s between a Master's VIP conflict checks; 0: off
