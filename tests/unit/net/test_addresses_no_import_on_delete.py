"""A VIP delete must not import anything: short of file descriptors, an import fails (EMFILE)
and the delete with it, and the Master that lost its tracked process keeps its VIP (found by
tests/net/test_campaign_modes_ci.py's fd mode when net/sysctl.py stopped being loaded at start)."""

from __future__ import annotations

import builtins
import contextlib
import errno

from vipkeeper.net.addresses import AddressOwner


@contextlib.contextmanager
def imports_fail():
    real = builtins.__import__

    def refuse(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        raise OSError(errno.EMFILE, "Too many open files", name)

    builtins.__import__ = refuse
    try:
        yield
    finally:
        builtins.__import__ = real


def test_promote_secondaries_before_a_delete_imports_nothing():
    owner = AddressOwner()
    with imports_fail():
        # no such interface here: the sysctl read finds nothing and there is nothing to keep
        owner._promote_secondaries("vk-no-such-if", 4242)
    assert owner._promoted["vk-no-such-if"] == (4242, "1")


def test_restoring_promote_secondaries_imports_nothing():
    class Requests:  # the request socket's index lookup: the interface is the one promoted
        def index(self, ifname: str) -> int:
            return 4242

    owner = AddressOwner()
    owner._requests = Requests()
    owner._promoted["vk-no-such-if"] = (4242, "0")
    with imports_fail():
        owner._restore_promote()  # its sysctl is not readable here: nothing is written
    assert owner._promoted == {}


def test_a_delete_that_fails_on_the_way_stays_owned_and_pending(monkeypatch):
    """Any OSError before the netlink request (EMFILE, a namespace gone) is a refusal like the
    kernel's: the VIP stays owned and pending, and the maintenance pass's retry_removals tries
    again (before, it escaped as a bare OSError and the VIP was never retried)."""
    import ipaddress

    import pytest

    from vipkeeper.net.addresses import AddressError, Vip

    class Requests:
        def index(self, ifname: str) -> int:
            return 7

        def request(self, build):  # noqa: ANN001
            return 0  # the kernel took it

    def short_of_fds(self, ifname: str, index: int) -> None:  # noqa: ANN001
        raise OSError(errno.EMFILE, "Too many open files")

    owner = AddressOwner()
    owner._requests = Requests()
    vip = Vip("eth0", ipaddress.ip_interface("192.0.2.10/24"))
    owner._owned[vip.key] = vip
    monkeypatch.setattr(AddressOwner, "_promote_secondaries", short_of_fds)
    with pytest.raises(AddressError) as failed:
        owner.remove_now(vip)
    assert failed.value.errno == errno.EMFILE
    assert owner.owns(vip.key) and owner.pending_removal == frozenset({vip})
    monkeypatch.undo()
    monkeypatch.setattr(AddressOwner, "_promote_secondaries", lambda self, ifname, index: None)
    assert owner.retry_removals() == [(vip, None)]
    assert not owner.owns(vip.key) and owner.pending_removal == frozenset()
