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
