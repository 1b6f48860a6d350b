"""What the namespace tests ask of the daemons on a lab Testbed (the `bed` fixture, conftest.py)
beyond the lab's own questions (src/vipkeeper/lab/testbed.py):

- `master_down(priority, adv)`: RFC 5798's Master_Down_Interval (3 advert intervals plus the
  skew, (256 - priority) / 256 of one), the bound a Backup's takeover is waited for with;
- `status(bed, name)`: `vipkeeper status --json` of node `name`'s daemon over the control socket
  the lab gives it (its work directory's vk.ctl); the test fails, with the command's error, when
  the daemon does not answer. `status_if_up` answers None instead, for polling with wait_for.
"""

from __future__ import annotations

import json
import subprocess
import sys

from vipkeeper.lab.testbed import Testbed


def master_down(priority: int, adv: float) -> float:
    return 3 * adv + (256 - priority) / 256 * adv


def _ask_status(bed: Testbed, name: str) -> subprocess.CompletedProcess:
    sock = bed.nodes[name].workdir / "vk.ctl"
    return subprocess.run([sys.executable, "-m", "vipkeeper", "status", "--socket", str(sock), "--json"],
                          capture_output=True, text=True, timeout=10, check=False)


def status(bed: Testbed, name: str) -> dict:
    out = _ask_status(bed, name)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def status_if_up(bed: Testbed, name: str) -> dict | None:
    out = _ask_status(bed, name)
    return json.loads(out.stdout) if out.returncode == 0 else None
