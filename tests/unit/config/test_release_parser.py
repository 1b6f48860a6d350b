"""The daemon drops the parse-only modules once its file is read (config/__init__.py, issue 18):
their code is freed, and the next load (a reload) imports them again and reads the same file to
an equal configuration -- nothing a Config holds came from them.

In a fresh interpreter: this one has imported the parser for the other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import gc, json, sys, weakref
import vipkeeper.config as C
text = "\\n".join(["vrrp_script chk {", "  script /bin/true", "}", "vrrp_instance VI_1 {", "  interface eth0",
                   "  virtual_router_id 1", "  priority 100", "  track_script {", "    chk", "  }",
                   "  virtual_ipaddress {", "    192.0.2.10/24 dev eth0", "  }",
                   "  virtual_routes {", "    198.51.100.0/24 via 192.0.2.1", "  }", "}", ""])
first = C.loads(text)
loaded = sorted(m for m in sys.modules if m.startswith("vipkeeper.config."))
alive = {m: weakref.ref(sys.modules[m]) for m in loaded}
C.release_parser()
gc.collect()
after = sorted(m for m in sys.modules if m.startswith("vipkeeper.config."))
kept_alive = sorted(m for m, ref in alive.items() if ref() is not None)
second = C.loads(text)
print(json.dumps({"loaded": loaded, "after": after, "alive": kept_alive, "equal": first == second,
                  "usable": second.usable, "instances": len(second.instances)}))
"""


def test_release_parser_frees_the_parse_only_modules_and_a_reload_reads_the_same() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    for name in ("parser", "keywords", "lexer", "tree", "routes"):
        assert f"vipkeeper.config.{name}" in got["loaded"]
        assert f"vipkeeper.config.{name}" not in got["after"]
    # what stays is what a Config's records are made of (and what the runtime imports itself)
    assert got["alive"] == ["vipkeeper.config.ip_interface", "vipkeeper.config.listen", "vipkeeper.config.model"]
    assert got["equal"] is True and got["usable"] is True and got["instances"] == 1


def test_the_daemon_releases_at_start_and_after_each_reload_parse() -> None:
    import inspect

    from vipkeeper.daemon import runtime, start

    assert "release_parser()" in inspect.getsource(start.launch)
    assert "release_parser()" in inspect.getsource(runtime.Runtime.reload)
