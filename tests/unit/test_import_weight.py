"""What a command imports is kept to what it needs (start-up time and RSS, issue 18).

Each check runs a fresh interpreter, so nothing imported by the test runner counts.
- `vipkeeper check` does not import socket.py, subprocess, json, asyncio or click (a plain command
  line is parsed by vipkeeper/cli.py itself), nor dataclasses (and its inspect, ast, dis,
  tokenize) nor shutil (and its bz2, lzma) nor typing (annotations are strings; the names come in
  under `if TYPE_CHECKING:`): the model is made of records (vipkeeper/records.py), which compile
  nothing when a class is defined;
- the daemon opens its VRRP sockets before it imports the event loop (typing it never imports:
  tests/unit/test_typing_standin.py), dataclasses,
  logging.handlers, json and the runtime (daemon/early_listen.py dates Startup from then);
- the classes the daemon's start path defines are records too, not dataclasses: a dataclass
  compiles about six methods with exec as its module is imported (the model and the VRRP core
  were a fifth of the daemon's start-up, measured with callgrind); the few left are listed;
- the daemon's modules leave out hashlib's OpenSSL module (_hashlib): advert auth is compared
  without hmac; they leave out click (a plain `vipkeeper run` command line is parsed by
  vipkeeper/cli.py, the daemon started by daemon/start.py) and ctypes.util (its find_library
  runs `ldconfig -p` in a subprocess: libc is reached through dlopen(NULL));
- nor ssl (libssl and libcrypto, 4.1 MiB of RSS): asyncio is imported without it
  (vipkeeper/asyncio_tls.py) and the etcd witness, the one part that talks TLS, gives it back
  when it is loaded (tests/unit/test_asyncio_tls.py: a real TLS round trip after that).
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


def test_check_imports_no_socket_subprocess_json_asyncio_or_click() -> None:
    out = run_python(
        "import sys, json as _j\n"
        "before = set(sys.modules)\n"  # json for the report itself: dropped below
        "sys.argv = ['vipkeeper', 'check', '-f', %r]\n"
        "from vipkeeper.cli import entry\n"
        "try:\n    entry()\nexcept SystemExit:\n    pass\n"
        "print(_j.dumps(sorted(set(sys.modules) - before)))" % str(SAMPLE))
    assert "vipkeeper.config.parser" in out  # it did check the file
    assert not {"socket", "subprocess", "asyncio", "click", "ctypes.util"} & set(out), out
    assert "json.decoder" not in out and "json.encoder" not in out
    assert not {"dataclasses", "inspect", "shutil", "bz2", "lzma", "typing"} & set(out), out


def test_daemon_loads_little_before_its_sockets_listen() -> None:
    """What `vipkeeper run` imports before daemon/early_listen.py opens the VRRP sockets is all
    start-up time counted against the Master_Down_Interval's start: not the event loop, typing,
    dataclasses, logging.handlers, json nor the advert codec (they come after)."""
    out = run_python(
        "import sys, json as _j\n"
        "before = set(sys.modules)\n"
        "import vipkeeper.cli, vipkeeper.daemon.start, vipkeeper.daemon.config_file, vipkeeper.daemon.early_listen\n"
        "import vipkeeper.daemon.signal_table, vipkeeper.daemon.run_options, vipkeeper.net.netns\n"
        "print(_j.dumps(sorted(set(sys.modules) - before)))")
    assert "vipkeeper.net.vrrp_socket" in out
    assert not {"asyncio", "typing", "dataclasses", "logging.handlers", "json.decoder", "vipkeeper.vrrp.packet",
                "vipkeeper.daemon.runtime"} & set(out), out


# dataclasses still defined on the daemon's start path, each for a reason: none now (the advert
# codec's two became records: dataclasses and copy were ~130 KB of the daemon's heap, issue 18).
START_PATH_DATACLASSES: set[str] = set()


def test_daemon_start_path_defines_records_not_dataclasses() -> None:
    out = run_python(
        "import sys, json\n"
        "import vipkeeper.cli, vipkeeper.daemon.start, vipkeeper.daemon.runtime, vipkeeper.control.server\n"
        "found = sorted(f'{m.__name__}.{n}' for m in list(sys.modules.values()) if m and m.__name__.startswith('vipkeeper')\n"
        "               for n, v in vars(m).items() if isinstance(v, type) and v.__module__ == m.__name__\n"
        "               and '__dataclass_fields__' in vars(v))\n"
        "print(json.dumps(found))")
    assert set(out) <= START_PATH_DATACLASSES, sorted(set(out) - START_PATH_DATACLASSES)
    assert "vipkeeper.vrrp.packet.Advertisement" not in out


def test_daemon_modules_leave_out_libcrypto_hashes_and_ssl() -> None:
    out = run_python(
        "import sys, json\n"
        "from vipkeeper.asyncio_tls import import_asyncio\n"
        "import_asyncio()\n"  # as daemon/start.py does for `vipkeeper run`
        "import vipkeeper.cli, vipkeeper.daemon.cli, vipkeeper.daemon.runtime, vipkeeper.control.server\n"
        "import vipkeeper.daemon.start, vipkeeper.daemon.keepalived_cli, vipkeeper.notify.mail\n"
        "import asyncio.base_events as b\n"
        "print(json.dumps({'hashlib': '_hashlib' in sys.modules, 'asyncio_ssl': b.ssl is not None,\n"
        "                  'ssl': sorted(m for m in ('ssl', '_ssl') if m in sys.modules)}))")
    assert out == {"hashlib": False, "asyncio_ssl": False, "ssl": []}


def test_daemon_start_path_leaves_out_click_and_ctypes_util() -> None:
    out = run_python(
        "import sys, json\n"
        "import vipkeeper.cli, vipkeeper.daemon.start, vipkeeper.daemon.runtime, vipkeeper.control.server\n"
        "import vipkeeper.net.netns, vipkeeper.daemon.tuning, vipkeeper.track.file\n"
        "print(json.dumps(sorted(m for m in ('click', 'ctypes.util', 'vipkeeper.daemon.cli') if m in sys.modules)))")
    assert out == []


def test_plain_run_command_line_does_not_import_click() -> None:
    # The file does not exist: the daemon stops at reading it (or, without root, before), either
    # way having gone the plain way.
    out = run_python(
        "import sys, json as _j\n"
        "sys.argv = ['vipkeeper', 'run', '-n', '-l', '--no-syslog', '-f', '/nonexistent/k.conf', '-p', '/nonexistent/v.pid']\n"
        "from vipkeeper.cli import entry\n"
        "try:\n    entry()\nexcept SystemExit:\n    pass\n"
        "print(_j.dumps(sorted(sys.modules)))")
    assert "vipkeeper.daemon.start" in out
    assert "click" not in out
    assert "ssl" not in out and "_ssl" not in out


def test_metrics_module_loads_neither_prometheus_client_nor_ssl() -> None:
    """The daemon's /metrics (control/metrics.py) writes the text format itself: prometheus_client
    imports ssl unconditionally (issue 18: +8.3 MiB RSS at 1,000 instances before any scrape)."""
    out = run_python(
        "import sys, json\n"
        "from vipkeeper.asyncio_tls import import_asyncio\n"
        "import_asyncio()\n"
        "import vipkeeper.control.metrics as m\n"
        "page = b''.join(m.iter_text(m.make_registry(lambda: {'instances': [{'name': 'VI_1'}]})))\n"
        "assert b'vipkeeper_vrrp_state' in page and b'process_resident_memory_bytes' in page\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in ('prometheus_client', 'ssl', '_ssl'))))")
    assert out == []


def test_daemon_modules_leave_out_features_the_configuration_may_not_use() -> None:
    """The notify fifo (notify/fifo.py), the start-up/shutdown scripts (daemon/lifecycle_scripts.py),
    VMACs (net/vmac.py), mail alerts (notify/mail.py, smtp.py, mail_format.py), sync groups
    (vrrp/sync_group.py), tracked files (track/file.py) and tracked scripts (track/script.py) are imported when the configuration names them, not by the runtime itself
    (issue 18: RSS of a daemon that does not use them); tests/net/test_notify_fifo*.py,
    test_lifecycle_scripts.py, test_vmac*.py, test_mail_alerts.py, test_track_file*.py, test_track_script*.py
    and the sync group tests run them."""
    out = run_python(
        "import sys, json\n"
        "from vipkeeper.asyncio_tls import import_asyncio\n"
        "import_asyncio()\n"
        "import vipkeeper.cli, vipkeeper.daemon.start, vipkeeper.daemon.runtime, vipkeeper.control.server\n"
        "import vipkeeper.daemon.tracking, vipkeeper.daemon.config_file, vipkeeper.daemon.early_listen\n"
        "print(json.dumps(sorted(m for m in ('vipkeeper.notify.fifo', 'vipkeeper.daemon.lifecycle_scripts',\n"
        "                                    'vipkeeper.net.vmac', 'vipkeeper.notify.mail', 'vipkeeper.notify.smtp',\n"
        "                                    'vipkeeper.notify.mail_format', 'vipkeeper.vrrp.sync_group',\n"
        "                                    'vipkeeper.track.file', 'vipkeeper.track.script')\n"
        "                        if m in sys.modules)))")
    assert out == []
