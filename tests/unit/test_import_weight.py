"""What a command imports is kept to what it needs (start-up time and RSS, issue 18).

Each check runs a fresh interpreter, so nothing imported by the test runner counts.
- `vipkeeper check` does not import socket.py, subprocess, json or asyncio;
- the daemon's modules leave out ssl and OpenSSL's libcrypto (_hashlib): asyncio is imported
  without TLS (daemon/__init__.py) and advert auth is compared without hmac;
- yet a module that needs TLS afterwards (prometheus_client's exposition) still gets ssl, and
  asyncio without ssl still serves a TCP connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data" / "keepalived-samples" / "keepalived.conf.vrrp.localcheck"


def run_python(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_check_imports_no_socket_subprocess_json_or_asyncio() -> None:
    out = run_python(
        "import sys, json as _j\n"
        "before = set(sys.modules)\n"  # json for the report itself: dropped below
        "sys.argv = ['vipkeeper', 'check', '-f', %r]\n"
        "from vipkeeper.cli import entry\n"
        "try:\n    entry()\nexcept SystemExit:\n    pass\n"
        "print(_j.dumps(sorted(set(sys.modules) - before)))" % str(SAMPLE))
    assert "vipkeeper.config.parser" in out  # it did check the file
    assert not {"socket", "subprocess", "asyncio"} & set(out), out
    assert "json.decoder" not in out and "json.encoder" not in out


def test_daemon_modules_leave_out_ssl_and_libcrypto() -> None:
    out = run_python(
        "import sys, json\n"
        "import vipkeeper.cli, vipkeeper.daemon.cli, vipkeeper.daemon.runtime, vipkeeper.control.server\n"
        "import asyncio.base_events as b\n"
        "print(json.dumps({'ssl': 'ssl' in sys.modules, 'hashlib': '_hashlib' in sys.modules,\n"
        "                  'asyncio_ssl': b.ssl is not None}))")
    assert out == {"ssl": False, "hashlib": False, "asyncio_ssl": False}


def test_tls_is_still_there_for_whoever_imports_it_and_asyncio_serves_tcp() -> None:
    out = run_python(
        "import asyncio, json, sys\n"
        "import vipkeeper.daemon.runtime\n"  # asyncio first imported here, without ssl
        "import prometheus_client.exposition, ssl\n"
        "async def main():\n"
        "    async def serve(reader, writer):\n"
        "        writer.write(await reader.readline()); await writer.drain(); writer.close()\n"
        "    server = await asyncio.start_server(serve, '127.0.0.1', 0)\n"
        "    port = server.sockets[0].getsockname()[1]\n"
        "    reader, writer = await asyncio.open_connection('127.0.0.1', port)\n"
        "    writer.write(b'ping\\n'); await writer.drain()\n"
        "    line = await reader.readline(); writer.close(); server.close()\n"
        "    return line.decode()\n"
        "print(json.dumps({'echo': asyncio.run(main()), 'tls': bool(ssl.OPENSSL_VERSION)}))")
    assert out == {"echo": "ping\n", "tls": True}
