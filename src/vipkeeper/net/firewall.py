"""The daemon's nftables tables (`nftables` / `vrrp_iptables`): created at start, gone at exit.

Rules
- The layout and what it drops are keepalived 2.2.7's (net/nft_rules.py says which).
- `open(families)` creates the tables of the families the guarded VIPs have (keepalived 2.2.7
  makes `ip6 NAME` only for IPv6 VIPs, measured), in one transaction; a table of the configured
  name left by a daemon that died is replaced (keepalived's check_and_delete_tables does the
  same); a family first needed at a reload is made with its first elements.
  Nothing else on the host is read or touched: other tables, chains and rules stay as they are.
- `block(owner, vips)` puts a Master's VIPs into the sets (before the VIPs are added);
  `unblock(owner, vips)` takes out exactly what that owner put in (after the VIPs went).
  Each call is one netlink transaction through libnftables (about 0.2 ms), run inline like the
  VIP changes themselves so the order on the host is keepalived's.
- `close()` deletes the tables (every element with them); idempotent.
- A failure is one log line from the caller; nothing is half-applied (nft transactions).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper.net import nft_rules
from vipkeeper.net.libnftables import Nftables, NftError

log = logging.getLogger("vipkeeper.net")


class Firewall:
    def __init__(self, table: str, priority: int = -1, counters: bool = False,
                 nft: Nftables | None = None) -> None:
        self.table = table
        self.priority = priority
        self.counters = counters
        self._nft = nft
        self._open = False
        self._families: set[int] = set()
        # owner (instance name) -> elements it put in the sets
        self._owned: dict[str, set[nft_rules.Element]] = {}

    @property
    def nft(self) -> Nftables:
        if self._nft is None:
            self._nft = Nftables()
        return self._nft

    def open(self, families: Iterable[int] = (4, 6)) -> None:
        """Replace leftovers of ours (both families) and create the tables of `families` (those
        of the VIPs it guards: keepalived makes the ip6 table only for IPv6 VIPs). Raises NftError."""
        existing = self._existing()
        commands: list[dict[str, Any]] = []
        for family in (4, 6):
            if family in existing:
                log.info("Deleting old %s %s table", nft_rules.FAMILIES[family], self.table)
                commands += nft_rules.teardown(self.table, family)
        wanted = sorted(set(families))
        for family in wanted:
            commands += nft_rules.setup(self.table, family, self.priority, self.counters)
        if commands:
            self.nft.run(commands)
        self._families = set(wanted)
        self._open = True

    def _ensure(self, items: Iterable[nft_rules.Element]) -> list[dict[str, Any]]:
        """Setup commands for a family first needed now (a reload brought its VIPs)."""
        commands: list[dict[str, Any]] = []
        for family in sorted({i[0] for i in items} - self._families):
            commands += nft_rules.setup(self.table, family, self.priority, self.counters)
            self._families.add(family)
        return commands

    def _existing(self) -> set[int]:
        found = set()
        listing = self.nft.run([{"list": {"tables": {}}}]) or {}
        for item in listing.get("nftables", []):
            table = item.get("table")
            if table and table.get("name") == self.table and table.get("family") in ("ip", "ip6"):
                found.add(4 if table["family"] == "ip" else 6)
        return found

    def block(self, owner: str, vips: Iterable[Any]) -> None:
        """Drop traffic to and from these VIPs (Vip objects: `.address.ip`, `.ifname`)."""
        items = {nft_rules.element(v.address.ip, v.ifname) for v in vips}
        mine = self._owned.setdefault(owner, set())
        new = [i for i in items if i not in mine and not self._held_by_other(owner, i)]
        if new and self._open:
            self.nft.run(self._ensure(new) + nft_rules.elements("add", self.table, _sorted(new)))
        mine.update(items)

    def unblock(self, owner: str, vips: Iterable[Any] | None = None) -> None:
        """Stop dropping what `owner` blocked (all of it when `vips` is None)."""
        mine = self._owned.get(owner, set())
        items = set(mine) if vips is None else {nft_rules.element(v.address.ip, v.ifname) for v in vips} & mine
        mine -= items
        gone = [i for i in items if not self._held_by_other(owner, i)]
        if gone and self._open:
            self.nft.run(nft_rules.elements("delete", self.table, _sorted(gone)))

    def _held_by_other(self, owner: str, item: nft_rules.Element) -> bool:
        return any(item in held for name, held in self._owned.items() if name != owner)

    def blocked(self) -> dict[str, list[str]]:
        """For status: owner -> the addresses it blocks."""
        return {owner: sorted(e if isinstance(e, str) else f"{e[0]}%{e[1]}" for _, _, e in items)
                for owner, items in self._owned.items() if items}

    def forget(self) -> None:
        """Let go without deleting: a new Firewall of the same table name has replaced ours."""
        self._open = False
        self._owned.clear()
        if self._nft is not None:
            self._nft.close()
            self._nft = None

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._owned.clear()
        try:
            existing = self._existing()
            commands = [c for f in (4, 6) if f in existing for c in nft_rules.teardown(self.table, f)]
            if commands:
                self.nft.run(commands)
        except NftError as exc:
            log.error("cannot delete nftables table %s: %s", self.table, exc)
        finally:
            self.nft.close()
            self._nft = None


def _sorted(items: Iterable[nft_rules.Element]) -> list[nft_rules.Element]:
    return sorted(items, key=repr)
