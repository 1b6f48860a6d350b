"""interface_index tells "no such interface" from "the host could not answer" (issue 20 #3).

glibc's if_nametoindex opens a socket for its ioctl; out of descriptors it fails exactly like a
missing interface does in Python's socket.if_nametoindex. The daemon read that as "interface
down", closed the VRRP socket of a healthy Master and went to FAULT (the campaign's fd mode,
seeds 1 and 3). Run in a child process whose descriptor limit is used up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vipkeeper.net.addresses import HostShortage, interface_index, link_state

REPO = Path(__file__).resolve().parents[3]


def test_existing_and_missing_interfaces() -> None:
    assert interface_index("lo") == 1
    assert interface_index("vk-no-such-if0") == 0
    assert not link_state("vk-no-such-if0").exists


def test_out_of_descriptors_is_a_shortage_not_a_missing_interface() -> None:
    code = (
        "import json, os, resource, socket\n"
        "from vipkeeper.net.addresses import HostShortage, interface_index\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "held = []\n"
        "try:\n"
        "    while True:\n"
        "        held.append(os.open('/dev/null', os.O_RDONLY))\n"
        "except OSError:\n"
        "    pass\n"
        "out = {}\n"
        "try:\n"
        "    socket.if_nametoindex('lo')\n"
        "    out['python'] = 'answered'\n"
        "except OSError:\n"
        "    out['python'] = 'no such interface'\n"
        "try:\n"
        "    out['ours'] = interface_index('lo')\n"
        "except HostShortage as exc:\n"
        "    out['ours'] = 'shortage %d' % exc.errno\n"
        "for fd in held:\n"
        "    os.close(fd)\n"
        "out['after'] = interface_index('lo')\n"
        "print(json.dumps(out))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    import errno

    assert out["python"] == "no such interface"  # the ambiguity the daemon fell into
    assert out["ours"] == f"shortage {errno.EMFILE}"
    assert out["after"] == 1
    assert issubclass(HostShortage, OSError)
