"""The installed package ships only the product, and works on its own.

`pip wheel` builds the wheel from a copy of what the build reads (pyproject.toml, README.md,
LICENSE, src/), so nothing is written into the checkout. The wheel must hold the daemon and its
commands but not the fault campaign (a test instrument under bench/campaign). Installed alone
into a fresh venv (its one dependency, click, comes from the package index; pyroute2 and
prometheus-client are not among them), `vipkeeper check`, `lint`, `run --help` and `status` work,
the metrics page is written, and `vipkeeper lab` says in one line which extra it needs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "tests" / "data" / "seed"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                    "-w", str(out), str(source)], check=True, timeout=300)
    wheels = list(out.glob("vipkeeper-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    "--root-user-action=ignore", str(wheels[0])], check=True, timeout=300)
    return wheels[0], venv


def test_the_wheel_holds_the_product_and_not_the_campaign(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    assert "vipkeeper/daemon/runtime.py" in names
    assert "vipkeeper/lab/cli.py" in names  # `vipkeeper lab` stays in the package
    assert "vipkeeper/lab/configs/relay-node1.conf" in names
    assert [n for n in names if "campaign" in n or "nfqueue" in n] == []
    assert [n for n in names if n.startswith(("bench/", "tests/"))] == []
    assert any(n.endswith(".dist-info/METADATA") for n in names)
    assert any(".dist-info/" in n and n.endswith("LICENSE") for n in names), "the GPL text travels with the wheel"
    metadata = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    hard = [line for line in requires if "extra ==" not in line]
    assert sorted(r.split()[1].split(">")[0].split("=")[0] for r in hard) == ["click"]
    assert any("pyroute2" in line and 'extra == "lab"' in line for line in requires), requires
    assert any("aiohttp" in line and 'extra == "witness"' in line for line in requires), requires
    assert any("prometheus-client" in line and 'extra == "test"' in line for line in requires), requires


def test_the_installed_wheel_alone_checks_lints_and_runs(built: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = built
    py = venv / "bin" / "python"
    exe = str(venv / "bin" / "vipkeeper")
    found = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('pyroute2'))"],
                           capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "None", "pyroute2 must not come with the wheel"
    found = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('prometheus_client'))"],
                           capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "None", "prometheus_client must not come with the wheel"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}  # no PYTHONPATH: the wheel only
    where = subprocess.run([str(py), "-c", "import vipkeeper; print(vipkeeper.__file__)"], capture_output=True,
                           text=True, check=True, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)

    check = run("check", "-f", str(SEED / "smtp-relay-node1.conf"))
    assert check.returncode == 0, check.stderr
    assert "1 instances" in check.stdout and "usable" in check.stdout
    # `check` with pyroute2's import made to fail still works: it never imports it
    blocked = subprocess.run([str(py), "-c", "import sys; sys.modules['pyroute2'] = None; sys.argv[0] = 'vipkeeper';"
                              " from vipkeeper.cli import entry; entry()", "check", "-f",
                              str(SEED / "smtp-relay-node2.conf")], capture_output=True, text=True, env=env)
    assert blocked.returncode == 0, blocked.stderr

    # a quorum-witness configuration is checked and explained without aiohttp (the 'witness' extra)
    witnessed = tmp_path / "witness.conf"
    witnessed.write_text("vipkeeper_witness etcd {\n endpoints http://192.0.2.11:2379\n}\n"
                         "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n witness etcd\n"
                         " virtual_ipaddress {\n 192.0.2.51/24\n }\n}\n")
    explained = run("check", "-f", str(witnessed))
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "etcd key /vipkeeper/instance/VI_1" in explained.stdout

    lint = run("lint", str(SEED / "smtp-relay-antipattern.conf"))
    assert "VK102" in lint.stdout and "Traceback" not in lint.stderr, lint.stdout + lint.stderr

    # the daemon's metrics page without prometheus_client
    page = subprocess.run([str(py), "-c", "import vipkeeper.control.metrics as m, sys; sys.stdout.buffer.write("
                           "b''.join(m.iter_text(m.make_registry(lambda: {'instances': [{'name': 'VI_1', "
                           "'state': 'MASTER'}]}))))"], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert page.returncode == 0, page.stderr
    assert 'vipkeeper_vrrp_state{iname="VI_1",intf="",vrid=""} 2.0' in page.stdout.splitlines()
    assert any(line.startswith("process_resident_memory_bytes ") for line in page.stdout.splitlines())

    helped = run("run", "--help")
    assert helped.returncode == 0 and "-f" in helped.stdout, helped.stdout

    status = run("status", "--socket", str(tmp_path / "none.ctl"))
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert len(status.stderr.strip().splitlines()) == 1, status.stderr

    lab = run("lab")
    assert lab.returncode != 0
    assert lab.stderr.strip().splitlines() == [
        "Error: vipkeeper lab needs pyroute2: install the extra, pip install 'vipkeeper[lab]'"]
