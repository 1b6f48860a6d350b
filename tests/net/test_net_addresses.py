"""VIPs through netlink in a lab node: idempotent, and never taking what is not ours."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from vipkeeper.lab.proc import wait_for_async
from vipkeeper.lab.topology import Lan, Topology
from vipkeeper.net.addresses import AddressChange, AddressError, AddressOwner, LinkState, LinkWatcher, Vip, link_state

pytestmark = pytest.mark.net


def test_add_and_remove_are_idempotent(topology: Topology, lan: Lan) -> None:
    node = lan["a"]
    vip = Vip.make("eth0", "192.0.2.100/24")

    async def main() -> None:
        async with AddressOwner(netns=node.ns) as owner:
            assert await owner.add(vip) is True
            assert await owner.add(vip) is False
            assert ipaddress.ip_interface("192.0.2.100/24") in topology.addresses(node.ns)
            assert owner.owned == {vip}
            assert await owner.remove(vip) is True
            assert await owner.remove(vip) is False
            assert ipaddress.ip_interface("192.0.2.100/24") not in topology.addresses(node.ns)

    asyncio.run(main())


def test_an_address_is_ours_once_asked_for_and_never_otherwise(topology: Topology, lan: Lan) -> None:
    """Issue 20 finding 5: a Master that found its VIP already there (left by a daemon that died,
    or added by hand) did not own it, so stepping down left it behind. Asking for an address
    that exists takes it over; an address nobody asked for is never removed unless claimed."""
    node = lan["a"]
    topology.run(node.ns, ["ip", "addr", "add", "192.0.2.150/24", "dev", "eth0"])
    topology.run(node.ns, ["ip", "addr", "add", "192.0.2.152/24", "dev", "eth0"])
    found = Vip.make("eth0", "192.0.2.150/24")
    ours = Vip.make("eth0", "192.0.2.151/24")
    admins = Vip.make("eth0", "192.0.2.152/24")

    async def main() -> None:
        async with AddressOwner(netns=node.ns) as owner:
            assert await owner.add(found) is False  # present already: not added, but ours now
            assert await owner.add(ours) is True
            assert owner.owned == {found, ours}
            assert await owner.remove(admins) is False  # never asked for: never taken
            assert sorted(map(str, await owner.release_all())) == sorted(map(str, [found, ours]))
            now = topology.addresses(node.ns)
            assert ipaddress.ip_interface("192.0.2.150/24") not in now
            assert ipaddress.ip_interface("192.0.2.151/24") not in now
            assert ipaddress.ip_interface("192.0.2.152/24") in now
            # keepalived's startup cleanup, made explicit: claim, then remove.
            assert await owner.claim(admins) is True
            assert await owner.remove(admins) is True
            assert ipaddress.ip_interface("192.0.2.152/24") not in topology.addresses(node.ns)
            assert await owner.claim(admins) is False

    asyncio.run(main())


def test_a_refused_delete_stays_owned_and_is_retried(topology: Topology, lan: Lan) -> None:
    """Ownership ends only when the kernel confirms the delete. Here the request never reaches
    it (the netlink socket is broken under the owner): the VIP stays owned and pending, and
    `retry_removals` deletes it once netlink answers again."""
    node = lan["a"]
    vip = Vip.make("eth0", "192.0.2.160/24")

    async def main() -> None:
        async with AddressOwner(netns=node.ns) as owner:
            assert owner.add_now(vip) is True
            assert owner._requests is not None
            owner._requests.sock.close()  # every request now fails with EBADF
            with pytest.raises(AddressError):
                owner.remove_now(vip)
            assert owner.owned == {vip} and owner.pending_removal == {vip}
            assert ipaddress.ip_interface("192.0.2.160/24") in topology.addresses(node.ns)
            assert [(v, e is not None) for v, e in owner.retry_removals()] == [(vip, True)]
            owner._requests = None
            owner.open_requests()  # netlink back
            assert owner.retry_removals() == [(vip, None)]
            assert owner.owned == frozenset() and owner.pending_removal == frozenset()
            assert ipaddress.ip_interface("192.0.2.160/24") not in topology.addresses(node.ns)
            # and a VIP wanted again before the retry is not removed by it
            assert owner.add_now(vip) is True
            owner._pending[vip.key] = vip
            owner.add_now(vip)
            assert owner.pending_removal == frozenset()

    asyncio.run(main())


def test_ipv6_vip_has_nodad_and_ipv4_vip_keeps_brd_label_scope(topology: Topology, lan: Lan) -> None:
    node = lan["b"]

    async def main() -> None:
        async with AddressOwner(netns=node.ns) as owner:
            # The kernel refuses a secondary whose scope differs from its subnet's primary (EINVAL).
            with pytest.raises(OSError, match="cannot add 192.0.2.103/24 dev eth0"):
                await owner.add(Vip.make("eth0", "192.0.2.103/24", scope="site"))
            assert owner.owned == frozenset()
            assert await owner.add(Vip.make("eth0", "2001:db8::100/64"))
            assert await owner.add(Vip.make("eth0", "198.51.100.101/24", broadcast="198.51.100.255", label="eth0:vip", scope="site"))
            assert await owner.add(Vip.make("eth0", "192.0.2.102"))

    asyncio.run(main())
    shown = topology.run(node.ns, ["ip", "addr", "show", "dev", "eth0"]).stdout
    v6 = next(line for line in shown.splitlines() if "2001:db8::100/64" in line)
    assert "nodad" in v6 and "tentative" not in v6
    v4 = next(line for line in shown.splitlines() if "198.51.100.101/24" in line)
    assert "brd 198.51.100.255" in v4 and "scope site" in v4 and v4.rstrip().endswith("eth0:vip")
    assert "192.0.2.102/32" in shown


def test_missing_interface_is_one_clear_error(lan: Lan) -> None:
    async def main() -> None:
        async with AddressOwner(netns=lan["a"].ns) as owner:
            with pytest.raises(OSError, match="eth9: no such interface"):
                await owner.add(Vip.make("eth9", "192.0.2.100/24"))

    asyncio.run(main())


def test_link_watcher_reports_carrier_loss_and_return(topology: Topology, lan: Lan, in_ns) -> None:
    node = lan["a"]

    async def main() -> None:
        watcher = in_ns(node.ns, LinkWatcher)
        seen: list[LinkState] = []
        try:
            watcher.start(seen.append)
            assert in_ns(node.ns, lambda: link_state("eth0")).up
            topology.cut(node)
            await wait_for_async(lambda: any(s.ifname == "eth0" and not s.up for s in seen), 2.0, what="link down event")
            topology.restore(node)
            await wait_for_async(lambda: seen and seen[-1].ifname == "eth0" and seen[-1].up, 2.0, what="link up event")
            assert not in_ns(node.ns, lambda: link_state("eth9")).exists
        finally:
            watcher.close()

    asyncio.run(main())


def test_link_watcher_reports_address_changes_by_name_also_when_the_link_goes(topology: Topology, lan: Lan,
                                                                                in_ns) -> None:
    """The daemon re-adds a Master's VIP on RTM_DELADDR, so the watcher must name the interface of
    every address event, also of those the kernel sends while deleting the interface itself."""
    node = lan["a"]

    async def main() -> None:
        watcher = in_ns(node.ns, LinkWatcher)
        links: list[LinkState] = []
        seen: list[AddressChange | None] = []
        try:
            watcher.start(links.append, on_address=seen.append)
            topology.run(node.ns, ["ip", "addr", "add", "192.0.2.170/24", "dev", "eth0"])
            topology.run(node.ns, ["ip", "addr", "del", "192.0.2.170/24", "dev", "eth0"])
            want = ipaddress.ip_address("192.0.2.170")
            await wait_for_async(lambda: [(c.ifname, c.added) for c in seen if c and c.address == want]
                                 == [("eth0", True), ("eth0", False)], 2.0, what="add and delete events")
            topology.run(node.ns, ["ip", "link", "add", "vz", "type", "veth", "peer", "name", "vzp"])
            topology.run(node.ns, ["ip", "addr", "add", "198.51.100.9/24", "dev", "vz"])
            topology.run(node.ns, ["ip", "link", "del", "vz"])
            gone = ipaddress.ip_address("198.51.100.9")
            await wait_for_async(lambda: any(c and c.address == gone and not c.added for c in seen), 2.0,
                                 what="delete event of the deleted interface's address")
            assert [c.ifname for c in seen if c and c.address == gone and not c.added] == ["vz"]
            assert any(s.ifname == "vz" and not s.exists for s in links)
        finally:
            watcher.close()

    asyncio.run(main())


def _promote(topology: Topology, ns: str) -> str:
    return topology.run(ns, ["cat", "/proc/sys/net/ipv4/conf/eth0/promote_secondaries"]).stdout.strip()


def test_removing_a_primary_vip_keeps_the_admins_address_of_its_subnet(topology: Topology, lan: Lan) -> None:
    """Issue 20 campaign, flush seed 34: an admin's flush left the VIP as eth0's primary address
    and the node's own address came back as a secondary. Deleting the VIP (a restarted daemon's
    start-up cleanup) made the kernel delete the secondary with it (promote_secondaries=0), and
    the node had nothing left to send adverts from. The owner sets promote_secondaries before
    its delete and puts the admin's value back at close."""
    node = lan["a"]
    own = str(node.ipv4)
    topology.run(node.ns, ["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=0"])

    def leftover_vip_first() -> None:
        topology.run(node.ns, ["ip", "-4", "addr", "flush", "dev", "eth0"])
        topology.run(node.ns, ["ip", "addr", "add", "192.0.2.100/24", "dev", "eth0"])
        topology.run(node.ns, ["ip", "addr", "add", own, "dev", "eth0"])

    # the kernel's rule the test stands on: a plain delete takes the secondary along
    leftover_vip_first()
    topology.run(node.ns, ["ip", "addr", "del", "192.0.2.100/24", "dev", "eth0"])
    assert ipaddress.ip_interface(own) not in topology.addresses(node.ns)

    leftover_vip_first()
    vip = Vip.make("eth0", "192.0.2.100/24")

    async def main() -> None:
        async with AddressOwner(netns=node.ns) as owner:
            assert await owner.claim(vip) is True
            assert await owner.remove(vip) is True
            now = topology.addresses(node.ns)
            assert ipaddress.ip_interface("192.0.2.100/24") not in now
            assert ipaddress.ip_interface(own) in now
            assert _promote(topology, node.ns) == "1"
        assert _promote(topology, node.ns) == "0"  # the admin's value again at close

    asyncio.run(main())


def test_promote_secondaries_left_as_the_admin_set_it(topology: Topology, lan: Lan) -> None:
    """An admin who runs with promote_secondaries=1 keeps it after the daemon's close."""
    node = lan["a"]
    topology.run(node.ns, ["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"])
    vip = Vip.make("eth0", "192.0.2.100/24")

    async def main() -> None:
        async with AddressOwner(netns=node.ns) as owner:
            assert await owner.add(vip) is True
            assert await owner.remove(vip) is True
        assert _promote(topology, node.ns) == "1"

    asyncio.run(main())
