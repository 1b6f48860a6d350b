"""The daemon's asyncio has no TLS until the etcd witness needs it, and then has all of it
(vipkeeper/asyncio_tls.py).

Each check runs a fresh interpreter that imports asyncio and the daemon's modules as `vipkeeper run`
does. The round trip is real: an https server on asyncio's own TLS (server side) with a
certificate openssl made for the test, and the witness's EtcdGateway (aiohttp, client side)
reading a key from it with that certificate as its CA -- after the event loop is already
running, as on a reload that adds a witness.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SERVER = r'''
import sys
from vipkeeper.asyncio_tls import import_asyncio
import_asyncio()  # as daemon/start.py does for `vipkeeper run`
import vipkeeper.cli, vipkeeper.daemon.start, vipkeeper.daemon.runtime, vipkeeper.control.server
import asyncio, base64, json
before = {"ssl": "ssl" in sys.modules, "_ssl": "_ssl" in sys.modules}
CERT, KEY = sys.argv[1], sys.argv[2]

async def main():
    loop_tls_before = __import__("vipkeeper.asyncio_tls").asyncio_tls.enabled()
    from vipkeeper.witness.etcd_gateway import EtcdGateway  # as read_config does on a reload
    import ssl
    seen = {}

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int([l for l in head.decode().split("\r\n") if l.lower().startswith("content-length")][0].split(":")[1])
        body = json.loads(await reader.readexactly(length))
        seen["tls"] = writer.get_extra_info("ssl_object") is not None
        seen["path"] = head.split()[1].decode()
        seen["key"] = base64.b64decode(body["key"]).decode()
        answer = json.dumps({"header": {"revision": "7"}, "kvs": [{"key": body["key"],
                             "value": base64.b64encode(b"lb1").decode(), "lease": "5", "mod_revision": "3"}]}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(answer) + answer)
        await writer.drain()
        writer.close()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(CERT, KEY)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    gateway = EtcdGateway((f"https://127.0.0.1:{port}",), 5.0, cacert=CERT)
    try:
        kv, revision = await gateway.get("/lb/VI_1")
    finally:
        await gateway.close()
        server.close()
    return {"before": before, "loop_tls_before": loop_tls_before, "value": kv.value, "revision": revision, **seen}

print(json.dumps(asyncio.run(main())))
'''


def run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    assert shutil.which("openssl"), "openssl (debian-packages.txt) makes the test's certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return str(cert), str(key)


def test_witness_talks_tls_to_etcd_after_a_daemon_started_without_ssl(certificate: tuple[str, str]) -> None:
    out = run(SERVER, *certificate)
    assert out["before"] == {"ssl": False, "_ssl": False}  # the daemon's modules left OpenSSL out
    assert out["loop_tls_before"] is False  # ... and asyncio had no TLS while the loop ran
    assert out == {**out, "tls": True, "path": "/v3/kv/range", "key": "/lb/VI_1", "value": "lb1", "revision": 7}


def test_enable_is_a_no_op_where_asyncio_had_ssl_from_the_start() -> None:
    out = run("import json, ssl, asyncio, asyncio.sslproto as p\n"
              "from vipkeeper import asyncio_tls\n"
              "import vipkeeper.daemon.runtime\n"  # asyncio already loaded: imported as it was
              "first = p.SSLProtocol\n"
              "asyncio_tls.enable()\n"
              "print(json.dumps([asyncio_tls.enabled(), p.SSLProtocol is first]))")
    assert out == [True, True]
