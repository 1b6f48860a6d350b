"""Every program the lab and the tests start by its path comes from a Debian package that
debian-packages.txt lists, so that `./scripts/setup` on a fresh Debian 12 machine installs it
(etcdctl, in etcd-client, was missing while etcd-server was listed: the witness tests failed on a
fresh machine where etcd-client was not already installed)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# vipkeeper's own: built from this repository (the Debian package tests), not from Debian's archive
OURS = {"/usr/sbin/vipkeeper", "/usr/bin/vipkeeper"}


def listed() -> set[str]:
    text = (REPO / "debian-packages.txt").read_text()
    return {line.split()[0] for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")}


def programs() -> set[str]:
    found: set[str] = set()
    for path in [*(REPO / "src" / "vipkeeper" / "lab").glob("*.py"), *(REPO / "tests").rglob("*.py"),
                 *(REPO / "bench").glob("*.py")]:
        found |= set(re.findall(r"\"(/usr/s?bin/[A-Za-z0-9_.+-]+)\"", path.read_text()))
    return found - OURS


def test_every_program_started_by_path_comes_from_a_listed_package() -> None:
    progs = programs()
    assert {"/usr/bin/etcd", "/usr/bin/etcdctl", "/usr/sbin/keepalived", "/usr/sbin/haproxy"} <= progs
    wanted = listed()
    unlisted = {}
    for prog in sorted(progs):
        real = Path(prog).resolve()
        owner = None
        for candidate in (prog, str(real)):
            done = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True, check=False)
            if done.returncode == 0:
                owner = done.stdout.split(":", 1)[0].split(",")[0].strip()
                break
        assert owner is not None, f"{prog}: no installed Debian package holds it (./scripts/setup installs the list)"
        if owner not in wanted and not owner.startswith("python3"):
            unlisted[prog] = owner
    assert not unlisted, f"programs from packages debian-packages.txt does not list: {unlisted}"
