"""The `vipkeeper` subcommands: where each lives and its one-line help (`vipkeeper --help`, the
man page). Each is imported only when invoked (command_group.py)."""

from __future__ import annotations

# name -> (module, attribute, one-line help shown by `vipkeeper --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("vipkeeper.daemon.cli", "run", "Run the VRRP daemon on a keepalived.conf."),
    "check": ("vipkeeper.config.cli", "check", "Test a configuration file (keepalived -t)."),
    "lint": ("vipkeeper.diagnose.cli", "lint", "Find split-brain anti-patterns in one or several nodes' configs."),
    "doctor": ("vipkeeper.diagnose.cli", "doctor", "Read keepalived/vipkeeper logs and explain what went wrong."),
    "pidcheck": ("vipkeeper.track.pidcheck", "pidcheck", "Race-free `pidof -q`: exit 0 if every named process runs."),
    "decode": ("vipkeeper.vrrp.cli", "decode", "Decode VRRP frames from a pcap file or hex."),
    "status": ("vipkeeper.control.cli", "status", "Show the running daemon's instances, trackers and counters."),
    "watch": ("vipkeeper.diagnose.watch_cli", "watch",
              "Watch a LAN's VRRP, ARP and ND: two Masters, VIP conflicts, VRID collisions."),
    "lab": ("vipkeeper.lab.cli", "lab", "Build a two-node lab in network namespaces and show a live failover."),
}
