"""What a witness block means, in words: for `vipkeeper check` and the key names everyone uses.

Rule kept: the key of an instance is PREFIX/instance/NAME and of a sync group PREFIX/sync_group/NAME,
so every router configured with the same names claims the same key; this file is the one place
that says so. No I/O (check must not need aiohttp).
"""

from __future__ import annotations

from vipkeeper.config.model import Config, Witness

from .claim import RATE_BOUND


def key_for(witness: Witness, kind: str, name: str) -> str:
    return f"{witness.prefix.rstrip('/')}/{kind}/{name}"


def guarded(config: Config) -> list[tuple[str, str, Witness]]:
    """(kind, name, witness) for every sync group or lone instance a witness guards."""
    out = []
    for group in config.sync_groups:
        w = config.witness(group.witness) if group.witness else None
        if w is not None:
            out.append(("sync_group", group.name, w))
    for instance in config.instances:
        w = config.witness(instance.witness) if instance.witness else None
        if w is not None and instance.sync_group is None:
            out.append(("instance", instance.name, w))
    return out


def explain(config: Config) -> list[str]:
    lines = []
    for kind, name, w in guarded(config):
        hold = w.lease_ttl * (1 - RATE_BOUND) - w.lease_margin
        policy = ("no VIP while etcd cannot be reached (FAULT)" if w.policy == "fail_closed"
                  else "plain VRRP while etcd cannot be reached, reported as degraded")
        lines.append(
            f"witness {w.name}: {kind} {name} holds its VIPs only while it holds etcd key "
            f"{key_for(w, kind, name)} under a {w.lease_ttl} s lease; they go {hold:.3f} s after the "
            f"last renewal was sent if no later one succeeded (before etcd can expire it); "
            f"{w.policy}: {policy}; endpoints {' '.join(w.endpoints)}")
    if lines:
        lines.append("note: 'vipkeeper_witness' and 'witness' are vipkeeper extensions: keepalived -t "
                     "reports them as unknown keywords")
    return lines
