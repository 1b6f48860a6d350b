"""The daemon's run path leaves the typing module out, and asyncio imported with the stand-in
(vipkeeper/typing_standin.py) still works fully (issue 18, RSS).

Each check runs a fresh interpreter with -S: site-packages' .pth files of some Pythons import
typing at start-up (pyenv's does), which would hide what the daemon's modules do; Debian's
/usr/bin/python3, which runs the daemon, does not (each check asserts the interpreter starts
without typing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

RUN_PATH = (
    "import sys\n"
    "start = 'typing' in sys.modules\n"
    "from vipkeeper.asyncio_tls import import_asyncio\n"
    "import_asyncio()\n"  # as daemon/start.py does for `vipkeeper run`
    "import vipkeeper.cli, vipkeeper.daemon.start, vipkeeper.daemon.runtime, vipkeeper.control.server\n"
    "import vipkeeper.daemon.tracking, vipkeeper.daemon.config_file, vipkeeper.daemon.early_listen\n"
    "import vipkeeper.control.metrics, vipkeeper.notify.scripts, vipkeeper.track.interface\n"
    # and those the runtime imports when the configuration names what they serve
    "import vipkeeper.track.script, vipkeeper.track.file, vipkeeper.track.proc_connector, vipkeeper.vrrp.sync_group\n"
    "import vipkeeper.net.firewall, vipkeeper.net.routes, vipkeeper.notify.mail, vipkeeper.notify.fifo\n"
    "import vipkeeper.daemon.keepalived_dump, vipkeeper.daemon.lifecycle_scripts, vipkeeper.net.vmac\n"
)


def run_python(code: str, **settings: str) -> dict:
    """`code` in a fresh interpreter (-S), with `settings` added to its environment."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), **settings}
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_daemon_run_path_does_not_import_typing() -> None:
    out = run_python(
        RUN_PATH
        + "import json\n"
        "print(json.dumps({'start': start, 'typing': 'typing' in sys.modules,\n"
        "                  'asyncio': 'asyncio.timeouts' in sys.modules and 'asyncio.staggered' in sys.modules}))")
    assert out == {"start": False, "typing": False, "asyncio": True}


def test_plain_run_command_line_does_not_import_typing() -> None:
    # As test_import_weight.py's: the file does not exist, the daemon stops at reading it (or,
    # without root, before) -- having gone the plain `vipkeeper run` way, asyncio imported or not.
    out = run_python(
        "import sys, json as _j\n"
        "start = 'typing' in sys.modules\n"
        "sys.argv = ['vipkeeper', 'run', '-n', '-l', '--no-syslog', '-f', '/nonexistent/k.conf', '-p', '/nonexistent/v.pid']\n"
        "from vipkeeper.cli import entry\n"
        "try:\n    entry()\nexcept SystemExit:\n    pass\n"
        "print(_j.dumps({'start': start, 'typing': 'typing' in sys.modules, 'ran': 'vipkeeper.daemon.start' in sys.modules}))")
    assert out == {"start": False, "typing": False, "ran": True}


ASYNCIO_WORKS = r'''
import asyncio, socket
results = {}

async def main():
    # asyncio.timeouts: timeout() cancels, timeout_at() and reschedule() steer it, no timeout passes
    try:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(5)
        results["timeout"] = "not raised"
    except TimeoutError:
        results["timeout"] = "raised"
    loop = asyncio.get_running_loop()
    async with asyncio.timeout_at(loop.time() + 5) as cm:
        cm.reschedule(loop.time() + 10)
        await asyncio.sleep(0)
        results["when_moved"] = cm.when() > loop.time() + 9
    async with asyncio.timeout(None) as cm:
        results["expired"] = cm.expired()
    results["wait_for"] = await asyncio.wait_for(asyncio.sleep(0, "done"), 1)
    # asyncio.staggered: happy eyeballs over two addresses, the first one refusing
    refused = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    refused.bind(("::1", 0))  # bound, not listening: connect is refused
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    infos = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", refused.getsockname()[1], 0, 0)),
             (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
    async def getaddrinfo(*args, **kwargs):
        return infos
    loop.getaddrinfo = getaddrinfo
    transport, _ = await loop.create_connection(asyncio.Protocol, "lab.invalid", port, happy_eyeballs_delay=0.05)
    results["eyeballs"] = transport.get_extra_info("peername")[:2] == ("127.0.0.1", port)
    transport.close()
    from asyncio.staggered import staggered_race
    async def fails():
        raise OSError("first")
    async def wins():
        return "second"
    winner, index, excs = await staggered_race([fails, wins], 0.01)
    results["race"] = [winner, index, [type(e).__name__ if e else None for e in excs]]
    server.close()
    await server.wait_closed()
    refused.close()

asyncio.run(main())
'''


def test_asyncio_works_after_the_standin_and_typing_is_real_later() -> None:
    out = run_python(
        RUN_PATH + ASYNCIO_WORKS
        + "import json\n"
        "results['typing_before'] = 'typing' in sys.modules\n"
        "import typing\n"
        "from typing import NamedTuple, Protocol, TypeVar, cast\n"
        "class P(NamedTuple):\n    a: int\n"
        "results['real'] = (typing.__file__ is not None and typing.__file__.endswith('typing.py')\n"
        "                   and P(1).a == 1 and cast(int, 3) == 3 and typing.get_type_hints(P) == {'a': int})\n"
        "import asyncio.timeouts\n"
        "results['final'] = asyncio.timeouts.Timeout.__final__\n"
        "print(json.dumps(results))")
    assert out == {"timeout": "raised", "when_moved": True, "expired": False, "wait_for": "done", "eyeballs": True,
                   "race": ["second", 1, ["OSError", None]], "typing_before": False, "real": True, "final": True}
