"""Write a libFuzzer dictionary of keepalived.conf words (from vipkeeper's keyword tables plus
block names, lexer syntax and typical values), so byte mutations build plausible configurations.

    python bench/fuzz/make_dict.py OUT.dict
"""

from __future__ import annotations

import sys

from vipkeeper.config import keywords

EXTRA = [
    "global_defs", "vrrp_instance", "vrrp_script", "vrrp_sync_group", "vrrp_track_process",
    "vrrp_track_file", "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes",
    "virtual_rules", "unicast_peer", "track_process", "track_script", "track_interface",
    "track_file", "authentication", "virtual_server", "real_server", "include", "includer",
    "{", "}", "\n", " ", "#", "!", "\"", "$X=", "${X}", "$X", "~SEQ(i, 1, 3)", "~LST(i, a, b)",
    "@a ", "@^a ", "192.0.2.1", "192.0.2.100/24", "2001:db8::1", "fe80::1/64", "dev", "eth0",
    "scope", "link", "label", "brd", "MASTER", "BACKUP", "255", "0", "-1", "0.1", "4096",
    "yes", "no", "on", "off", "true", "false", "weight", "reverse",
]


def _escape(char: str) -> str:
    """libFuzzer dictionaries know only \\\\, \\" and \\xNN."""
    if char.isprintable() and char not in '"\\':
        return char
    return "".join(f"\\x{b:02x}" for b in char.encode())


def main(out: str) -> None:
    words: set[str] = set(EXTRA)
    for table in (keywords.GLOBAL_DEFS, keywords.INSTANCE, keywords.SCRIPT, keywords.SYNC_GROUP,
                  keywords.TRACK_FILE, keywords.TRACK_PROCESS, keywords.AUTHENTICATION):
        words.update(table)
    with open(out, "w") as f:
        f.writelines('"' + "".join(_escape(c) for c in word) + '"\n' for word in sorted(words))
    print(f"{len(words)} words -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
