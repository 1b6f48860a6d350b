"""netns.enter: sockets made before stay in the old namespace, sockets made after live in NAME.

The switch happens in a child process, so the test runner itself never changes namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vipkeeper.lab.topology import Lan
from vipkeeper.net import netns

pytestmark = pytest.mark.net

CHILD = r"""
import fcntl, json, os, socket, sys
from vipkeeper.net import netns
SIOCGSKNS = 0x894C  # an fd for the namespace a socket belongs to
def ns_of(sock):
    fd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)
before = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = netns.current_inode()
netns.enter(sys.argv[1])
after = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
after.bind(("192.0.2.1", 0))  # only NAME has this address
print(json.dumps({"start": start, "now": netns.current_inode(), "before": ns_of(before), "after": ns_of(after)}))
"""


def test_enter_moves_later_sockets_only(lan: Lan) -> None:
    name = lan["a"].ns
    out = subprocess.run([sys.executable, "-c", CHILD, name], capture_output=True, text=True, timeout=20, check=True)
    seen = json.loads(out.stdout)
    target = netns.inode_of(name)
    assert seen["start"] == netns.current_inode() != target  # the child started where we are
    assert seen["now"] == target
    assert seen["before"] == seen["start"]
    assert seen["after"] == target


def test_call_in_leaves_the_caller_where_it_was(lan: Lan) -> None:
    here = netns.current_inode()
    assert netns.call_in(lan["a"].ns, netns.current_inode) == netns.inode_of(lan["a"].ns)
    assert netns.current_inode() == here
    with pytest.raises(netns.NetnsError, match="no-such-ns"):
        netns.call_in("no-such-ns", os.getpid)
