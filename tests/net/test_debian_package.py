"""The Debian package as an admin gets it: built with Debian's tooling, installed with apt into a
clean Debian root (no pip, no pyenv: Debian's python3 arrives as a dependency), then used.

The module builds the package once (`scripts/build-deb`, lintian included: a lintian error fails
the build), copies a cached clean root (`scripts/debian-root`: debootstrap --variant=minbase of
this host's release, plus systemd and man-db, kept in /var/cache/vipkeeper-test and rebuilt once a
week), and installs the package there with `apt-get install ./vipkeeper_*.deb`. The tests then run
the installed files only: `/usr/sbin/vipkeeper check`, `systemd-analyze verify` on the installed
unit, `man --warnings` on the installed pages, a two-node failover in network namespaces with the
installed daemon started as the unit says (chroot into the root, in a private mount namespace per
node), the unit under real systemd (systemd-nspawn --boot of the root: start, reload, a broken
reload, tracking, a notify script, stop), and last `apt-get purge`, after which no file of the
package may remain.

Every command in the root runs in its own mount namespace (`unshare -m`) where /proc, /dev and
/sys are bound and /run is a fresh tmpfs, so nothing is mounted in the test runner's namespace and
nothing outlives the command. Downloaded dependencies are kept in the cache's apt archive.
Time on the 2-core development machine (load from other work beside it): 35-90 s for the module
with a cached root (build and lintian 11-20 s, copying the root 1-6 s, apt-get install 5-27 s,
less once the dependencies are in the archive cache; the failover 10 s; systemd in the container
5 s), plus 50 s once a week for debootstrap. Short enough for every run: no marker keeps it out of `./scripts/test`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from vipkeeper.cli import COMMANDS
from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("VIPKEEPER_ROOT_CACHE", "/var/cache/vipkeeper-test"))
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
VIP = "192.0.2.50/24"
ADV = 0.5


class Root:
    """A Debian root on disk and commands run in it (chroot, private mounts)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mount_script(self) -> str:
        r = str(self.path)
        return (f"mount --bind /proc {r}/proc && mount --bind /dev {r}/dev && mount --bind /sys {r}/sys"
                f" && mount -t tmpfs -o mode=0755 tmpfs {r}/run")

    def argv(self, command: str, archives: Path | None = None, binds: dict[str, Path] | None = None) -> list[str]:
        """argv running the shell `command` chrooted in the root, in a new mount namespace;
        `binds` maps paths inside the root to host paths bound there (after /run is mounted)."""
        mounts = self.mount_script()
        if archives is not None:
            mounts += f" && mount --bind {archives} {self.path}/var/cache/apt/archives"
        for inside, host in (binds or {}).items():
            target = f"{self.path}{inside}"
            make = f"mkdir -p {target}" if host.is_dir() else f"mkdir -p {os.path.dirname(target)} && touch {target}"
            mounts += f" && {make} && mount --bind {host} {target}"
        quoted = command.replace("'", "'\"'\"'")
        return ["unshare", "-m", "sh", "-c", f"{mounts} && exec chroot {self.path} sh -c '{quoted}'"]

    def run(self, command: str, timeout: float = 300, archives: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        env = {"PATH": HOST_PATH, "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
        done = subprocess.run(self.argv(command, archives), check=False, capture_output=True, text=True, timeout=timeout, env=env)
        if check and done.returncode != 0:
            raise AssertionError(f"in the root: {command!r} exited {done.returncode}\n"
                                 f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}")
        return done

    def files(self) -> set[str]:
        found = set()
        for dirpath, dirnames, filenames in os.walk(self.path):
            rel = "/" + os.path.relpath(dirpath, self.path)
            rel = "/" if rel == "/." else rel
            if rel in ("/proc", "/sys", "/dev", "/run"):
                dirnames[:] = []
                continue
            for name in dirnames + filenames:
                found.add(os.path.join(rel, name))
        return found


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    built = subprocess.run([str(REPO / "scripts" / "build-deb"), "-o", str(out)], check=False, capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, f"build-deb failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}"
    debs = list(out.glob("vipkeeper_*_all.deb"))
    assert len(debs) == 1, f"expected one vipkeeper_VERSION_all.deb in {out}, found {debs}"
    print(f"\nbuild-deb (with lintian): {time.monotonic() - started:.1f} s")
    print(built.stdout)
    return {"deb": debs[0], "build_output": built.stdout}


@pytest.fixture(scope="module")
def root(package) -> Root:
    started = time.monotonic()
    made = subprocess.run([str(REPO / "scripts" / "debian-root")], check=False, capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, f"debian-root failed:\n{made.stderr[-4000:]}"
    base = Path(made.stdout.strip().splitlines()[-1])
    work = Path(tempfile.mkdtemp(prefix="vkroot-"))
    path = work / "root"
    subprocess.run(["cp", "-a", str(base), str(path)], check=True, timeout=300)
    shutil.copy("/etc/resolv.conf", path / "etc" / "resolv.conf")
    r = Root(path)
    r.before = r.files()  # type: ignore[attr-defined]
    print(f"clean root ready in {time.monotonic() - started:.1f} s: {path}")
    try:
        yield r
    finally:
        # Nothing is ever mounted in this namespace below the root; refuse to remove it if it were.
        with open("/proc/self/mountinfo") as f:
            mounted = [line.split()[4] for line in f if line.split()[4].startswith(str(path))]
        assert not mounted, f"mounts left under the test root: {mounted}"
        subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False, timeout=300)


@pytest.fixture(scope="module")
def installed(package, root: Root) -> dict:
    deb: Path = package["deb"]
    assert not (root.path / "usr/bin/python3").exists(), "the clean root already has a python3"
    shutil.copy(deb, root.path / "tmp" / deb.name)
    archives = CACHE / "archives"
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # The cached root's package lists may be a week old; a point release removes the versions
    # they name from the mirror.
    root.run("apt-get update -qq", timeout=300)
    done = root.run(f"cd /tmp && apt-get install -y -q ./{deb.name}", timeout=600, archives=archives)
    seconds = time.monotonic() - started
    print(f"apt-get update; apt-get install ./{deb.name}: {seconds:.1f} s")
    (root.path / "tmp" / deb.name).unlink()
    listed = root.run("dpkg -L vipkeeper").stdout.split()
    conffiles = root.run("dpkg-query -W -f='${Conffiles}' vipkeeper").stdout.split()
    return {"apt": done.stdout, "files": listed, "conffiles": [c for c in conffiles if c.startswith("/")]}


def test_installs_with_debians_python_into_the_documented_places(installed, root: Root) -> None:
    files = set(installed["files"])
    for path in ("/usr/sbin/vipkeeper", "/lib/systemd/system/vipkeeper.service", "/etc/default/vipkeeper",
                 "/usr/share/man/man8/vipkeeper.8.gz", "/usr/share/man/man5/vipkeeper.conf.5.gz",
                 "/usr/share/bash-completion/completions/vipkeeper", "/usr/share/doc/vipkeeper/README.md.gz",
                 "/usr/share/doc/vipkeeper/copyright"):
        assert path in files, f"{path} not installed by the package"
    assert "/usr/bin/vipkeeper" not in files
    assert installed["conffiles"] == ["/etc/default/vipkeeper"]
    # Debian's interpreter, pulled in by the package's dependencies; no pip anywhere.
    assert (root.path / "usr/sbin/vipkeeper").read_text().splitlines()[0] == "#!/usr/bin/python3"
    owner = root.run("dpkg -S /usr/bin/python3").stdout
    assert owner.startswith("python3-minimal"), owner
    assert root.run("dpkg-query -W -f='${Status}' python3-click").stdout == "install ok installed"
    # the metrics endpoint writes its text itself (issue 18): prometheus_client is no dependency
    assert "python3-prometheus-client" not in root.run("dpkg-query -W -f='${Package}\\n'").stdout.split()
    assert root.run("python3 -m pip --version", check=False).returncode != 0, "pip is installed in the root"
    version = root.run("/usr/sbin/vipkeeper --version").stdout
    assert re.search(r"version \d+\.\d+\.\d+", version), version
    # Installed disabled: on a keepalived host it must not start (and stop keepalived) by itself.
    assert not (root.path / "etc/systemd/system/multi-user.target.wants/vipkeeper.service").exists()
    # Bash completion comes from click and asks the installed command.
    completion = (root.path / "usr/share/bash-completion/completions/vipkeeper").read_text()
    assert "_VIPKEEPER_COMPLETE" in completion
    offered = root.run("_VIPKEEPER_COMPLETE=bash_complete COMP_WORDS='vipkeeper ch' COMP_CWORD=1 "
                       "/usr/sbin/vipkeeper").stdout.split()
    assert offered == ["plain,check"], offered


def test_install_writes_the_daemons_optimised_bytecode(installed, root: Root) -> None:
    """The unit runs the daemon with PYTHONOPTIMIZE=2 and its bytecode cache in /var/cache/vipkeeper
    (issue 18's memory row): the postinst writes .opt-2.pyc there for the package and for the
    standard library modules the daemon imports, so that no start compiles them."""
    cache = root.path / "var/cache/vipkeeper/pycache"
    unit = (root.path / "lib/systemd/system/vipkeeper.service").read_text()
    assert "PYTHONPYCACHEPREFIX=/var/cache/vipkeeper/pycache" in unit and "PYTHONOPTIMIZE=2" in unit
    for module in ("usr/lib/python3/dist-packages/vipkeeper/daemon/runtime", "usr/lib/python3/dist-packages/vipkeeper/cli",
                   "usr/lib/python3.11/asyncio/base_events", "usr/lib/python3.11/logging/__init__"):
        parent, name = module.rsplit("/", 1)
        found = list((cache / parent).glob(f"{name}.cpython-*.opt-2.pyc"))
        assert len(found) == 1, f"no opt-2 bytecode for /{module}.py in {cache / parent}"
    # started as the unit starts it, the daemon's code finds every module it imports in the cache
    probe = ("import sys, os, importlib.util; before = set(sys.modules); "
             "import vipkeeper.daemon.start, vipkeeper.daemon.runtime, vipkeeper.control.server; "
             "new = [sys.modules[n] for n in sorted(set(sys.modules) - before)]; "
             "files = [m.__file__ for m in new if (getattr(m, '__file__', None) or '').endswith('.py')]; "
             "missing = [f for f in files if not os.path.exists(importlib.util.cache_from_source(f))]; "
             "print(sys.flags.optimize, len(files) > 100, missing)")
    done = root.run("PYTHONOPTIMIZE=2 PYTHONNODEBUGRANGES=1 PYTHONPYCACHEPREFIX=/var/cache/vipkeeper/pycache "
                    "PYTHONDONTWRITEBYTECODE=1 python3 -c \"" + probe + "\"")
    assert done.stdout.strip() == "2 True []", done.stdout


def test_installed_check_reads_keepalived_samples_as_the_source_tree_does(installed, root: Root) -> None:
    """keepalived's own sample configurations: the installed command (Debian's python3 and
    libraries) prints and exits exactly as the source tree does. --no-host: the root shares this
    machine's interfaces and has none of the samples' scripts."""
    samples = REPO / "tests/data/keepalived-samples"
    inside = root.path / "tmp/samples"
    shutil.copytree(samples, inside)
    usable = 0
    try:
        for sample in sorted(samples.iterdir()):
            got = root.run(f"/usr/sbin/vipkeeper check --no-host -f /tmp/samples/{sample.name}", check=False)
            want = subprocess.run([sys.executable, "-m", "vipkeeper", "check", "--no-host", "-f", str(sample)],
                                  check=False, capture_output=True, text=True, timeout=60)
            assert got.returncode == want.returncode, f"{sample.name}: {got.returncode} vs {want.returncode}"
            assert (got.stdout + got.stderr).replace("/tmp/samples/", "") == \
                (want.stdout + want.stderr).replace(f"{samples}/", ""), sample.name
            assert "Traceback" not in got.stdout + got.stderr
            usable += got.returncode == 0
        assert usable, "no keepalived sample is clean for vipkeeper check"
        # the daemon's default path, as the unit reads it
        etc = root.path / "etc/keepalived"
        etc.mkdir(exist_ok=True)
        shutil.copy(samples / "keepalived.conf.vrrp", etc / "keepalived.conf")
        done = root.run("/usr/sbin/vipkeeper check --no-host", check=False)
        assert done.returncode in (0, 5) and "/etc/keepalived/keepalived.conf: " in done.stdout, done
        (etc / "broken.conf").write_text("vrrp_instance VI_1 {\n  state MASTER\n  virtual_router_id 300\n")
        broken = root.run("/usr/sbin/vipkeeper check -f /etc/keepalived/broken.conf", check=False)
        assert broken.returncode == 1
        assert re.search(r"/etc/keepalived/broken\.conf:\d+: error: ", broken.stdout + broken.stderr), broken
        (etc / "broken.conf").unlink()
    finally:
        shutil.rmtree(inside)


def test_installed_unit_verifies_clean(installed, root: Root) -> None:
    # The unit's condition file is the one the sample test wrote (or is written here).
    conf = root.path / "etc/keepalived/keepalived.conf"
    if not conf.exists():
        conf.parent.mkdir(exist_ok=True)
        shutil.copy(REPO / "src/vipkeeper/lab/configs/relay-node1.conf", conf)
    done = root.run("systemd-analyze verify /lib/systemd/system/vipkeeper.service", check=False)
    print("systemd-analyze verify /lib/systemd/system/vipkeeper.service:", repr(done.stdout + done.stderr),
          "exit", done.returncode)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr
    unit = (root.path / "lib/systemd/system/vipkeeper.service").read_text()
    for line in ("Type=notify", "EnvironmentFile=-/etc/default/vipkeeper",
                 "ConditionFileNotEmpty=/etc/keepalived/keepalived.conf",
                 "Documentation=man:vipkeeper(8) man:vipkeeper.conf(5)"):
        assert line in unit.splitlines(), f"unit lacks {line!r}"
    assert re.search(r"^ExecStart=/usr/sbin/vipkeeper run .*\$CONFIG_ARGS \$DAEMON_ARGS$", unit, re.MULTILINE)
    reload = re.findall(r"^ExecReload=(.*)$", unit, re.MULTILINE)
    assert len(reload) == 2 and "/usr/sbin/vipkeeper check $CONFIG_ARGS" in reload[0], reload
    assert reload[1] == "/bin/kill -HUP $MAINPID"
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.MULTILINE)
    assert caps and "CAP_SYS_ADMIN" not in caps.group(1) and "CAP_NET_ADMIN" in caps.group(1)
    default = (root.path / "etc/default/vipkeeper").read_text()
    assert re.search(r'^CONFIG_ARGS="-f /etc/keepalived/keepalived.conf"$', default, re.MULTILINE)
    assert re.search(r'^DAEMON_ARGS=""$', default, re.MULTILINE)


def test_installed_man_pages_render_without_warnings(installed, root: Root) -> None:
    # Not 80 columns: man-db keeps formatted 80-column pages in /var/cache/man, which would
    # outlive the purge below as man-db's cache (not the package's files).
    page = root.run("MANWIDTH=100 man --warnings vipkeeper")
    assert page.stderr == "", page.stderr
    synopsis = page.stdout.split("SYNOPSIS", 1)[1].split("DESCRIPTION", 1)[0]
    print("man vipkeeper, SYNOPSIS:" + synopsis.rstrip())
    for name in COMMANDS:
        assert re.search(rf"^\s+vipkeeper {name}\b", synopsis, re.MULTILINE), f"SYNOPSIS lacks {name}"
        assert f"vipkeeper {name}" in page.stdout.split("COMMANDS", 1)[1]
    for section in ("SIGNALS", "EXIT STATUS", "FILES", "EXAMPLES"):
        assert re.search(rf"^{section}$", page.stdout, re.MULTILINE), f"no {section} section"
    conf = root.run("MANWIDTH=100 man --warnings 5 vipkeeper.conf")
    assert conf.stderr == "", conf.stderr
    assert "vrrp_track_process" in conf.stdout and "virtual_server" in conf.stdout


def _unit_service(root: Root) -> dict[str, list[str]]:
    """The [Service] settings of the installed unit, each key with its values in order."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in (root.path / "lib/systemd/system/vipkeeper.service").read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


class UnitNode:
    """The installed daemon on one node, started as the installed unit says: its EnvironmentFile,
    its RuntimeDirectory, its ExecStart word for word under its CapabilityBoundingSet, with a
    NOTIFY_SOCKET that the test reads as systemd would (Type=notify). The node's configuration
    is bound onto /etc/keepalived/keepalived.conf in the node's private mount namespace, so the
    unit's default CONFIG_ARGS apply unchanged."""

    def __init__(self, bed: Testbed, root: Root, name: str, conf: str, workdir: Path) -> None:
        import socket

        service = _unit_service(root)
        self.root, self.name = root, name
        self.conf = workdir / f"{name}.conf"
        self.conf.write_text(conf)
        notify_dir = workdir / f"notify-{name}"
        notify_dir.mkdir()
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(notify_dir / "sock"))
        self.notify.settimeout(0.2)
        caps = service["CapabilityBoundingSet"][0].split()
        bounding = "-all," + ",".join("+" + c.lower().removeprefix("cap_") for c in caps)
        env_file = service["EnvironmentFile"][0].lstrip("-")
        runtime_dirs = " ".join(f"/run/{d}" for d in service["RuntimeDirectory"][0].split())
        exec_start = service["ExecStart"][0]
        assert exec_start.startswith("/usr/sbin/vipkeeper run "), exec_start
        self.env_file = env_file
        self.reload_lines = service["ExecReload"]
        # systemd splits an unquoted $VAR on whitespace, as sh does; the logs go to stderr here
        # (no journal in the root) on top of the admin's DAEMON_ARGS.
        command = (f"set -a && . {env_file} && set +a && DAEMON_ARGS=\"$DAEMON_ARGS -l --no-syslog\" "
                   f"&& mkdir -p {runtime_dirs} && export NOTIFY_SOCKET=/run/notify/sock "
                   f"&& exec setpriv --bounding-set {bounding} {exec_start}")
        binds = {"/etc/keepalived/keepalived.conf": self.conf, "/run/notify": notify_dir}
        self.proc = bed.nodes[name].spawn("daemon", root.argv(command, binds=binds), capture=True)
        bed.logs[name].append(self.proc.log)

    def notifications(self, want: str, timeout: float) -> list[str]:
        """Datagrams on the notify socket until one contains `want` (bounded)."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got.append(self.notify.recv(4096).decode())
            except TimeoutError:
                continue
            if want in got[-1]:
                return got
        raise AssertionError(f"{self.name}: no {want!r} on NOTIFY_SOCKET within {timeout:g}s (got {got})")

    def exec_reload(self) -> list[subprocess.CompletedProcess]:
        """The unit's ExecReload lines in order, stopping at the first failure, as systemd does:
        `vipkeeper check` runs in the daemon's mount namespace and root; kill -HUP $MAINPID."""
        results = []
        for line in self.reload_lines:
            if line.startswith("/bin/kill"):
                assert line == "/bin/kill -HUP $MAINPID", line
                assert os.access(self.root.path / "bin/kill", os.X_OK), "the unit's /bin/kill is not installed"
                os.kill(self.proc.pid, signal.SIGHUP)
                results.append(subprocess.CompletedProcess(line, 0))
                continue
            command = line.replace("$$", "$")  # systemd's escape of a literal $
            done = subprocess.run(["nsenter", "--target", str(self.proc.pid), "--mount", "--net", "--root", "--wd",
                                   "--", "sh", "-c", f"set -a && . {self.env_file} && set +a && exec {command}"],
                                  check=False, capture_output=True, text=True, timeout=60, env={"PATH": HOST_PATH})
            results.append(done)
            if done.returncode != 0:
                break
        return results

    def close(self) -> None:
        self.notify.close()


def _installed_exe(pid: int, root: Root, timeout: float = 10.0) -> str:
    """The executable of `pid` once it runs /usr/sbin/vipkeeper from the root (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            link = os.readlink(f"/proc/{pid}/exe")
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            link, argv = "", []
        # setpriv (the unit's capability bounding set) execs the script's interpreter in turn
        if link.startswith(f"{root.path}/usr/bin/python3") and b"/usr/sbin/vipkeeper" in argv:
            return link
        if time.monotonic() >= deadline:
            raise AssertionError(f"pid {pid} does not run the installed vipkeeper: {link} {argv}")
        time.sleep(0.01)


def _bounding_set(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", f.read(), re.MULTILINE).group(1), 16)  # type: ignore[union-attr]


def test_two_node_failover_with_the_installed_daemon_run_as_the_unit(installed, root: Root, topology,
                                                                      tmp_path) -> None:
    tmp_path.chmod(0o755)
    nodes: list[UnitNode] = []
    with Testbed(topology, ("a", "b"), ipv6=False) as bed:
        try:
            a = UnitNode(bed, root, "a", vrrp_conf(priority=150, vips=[VIP], advert_int=ADV), tmp_path)
            nodes.append(a)
            b = UnitNode(bed, root, "b", vrrp_conf(priority=100, vips=[VIP], advert_int=ADV), tmp_path)
            nodes.append(b)
            # The running daemons are the root's: Debian's python3 under the root, running
            # /usr/sbin/vipkeeper, with only the unit's capabilities, and they report readiness.
            for node in nodes:
                exe = _installed_exe(node.proc.pid, root)
                assert exe.startswith(f"{root.path}/usr/bin/python3"), exe
                assert _bounding_set(node.proc.pid).bit_count() == len(
                    _unit_service(root)["CapabilityBoundingSet"][0].split())
                node.notifications("READY=1", 15.0)
            bed.wait_sole("a", VIP, 3 * ADV + 3.0)
            settled = time.time()
            time.sleep(4 * ADV)
            assert bed.holders(VIP) == ["a"]
            assert bed.dual_holding(VIP, settled) == []
            assert bed.advertisers(settled, None, 51) == {"a"}

            # systemctl reload: a broken file stops at `vipkeeper check`, the daemon never sees it;
            # a good one is checked, then SIGHUP, and the daemon re-reads it and keeps the VIP.
            good = a.conf.read_text()
            a.conf.write_text(good.replace("virtual_router_id 51", "virtual_router_id 300"))
            refused = a.exec_reload()
            assert len(refused) == 1 and refused[0].returncode == 1, refused
            assert re.search(r"keepalived\.conf:\d+: ", refused[0].stdout + refused[0].stderr), refused
            a.conf.write_text(good)
            reloaded = time.time()
            assert [r.returncode for r in a.exec_reload()] == [0, 0]
            a.proc.log.wait_line(lambda line: "Reloading configuration" in line.text, 10.0, after=reloaded)
            time.sleep(2 * ADV)
            assert bed.holders(VIP) == ["a"] and bed.removed_at("a", VIP, reloaded) is None

            stopped = bed.stop("a", signal.SIGTERM)
            assert a.notifications("STOPPING=1", 5.0)
            assert bed.priority_zero_at("a", stopped, 51) is not None, "SIGTERM sent no priority-0 advert"
            assert bed.removed_at("a", VIP, stopped) is not None, "SIGTERM left the VIP on the old Master"
            took = bed.wait_sole("b", VIP, 3 * ADV + 3.0)
            print(f"installed daemon: VIP on b {1000 * (took - stopped):.0f} ms after SIGTERM to a")
            assert bed.wait_garps(VIP, stopped, 2.0), "new Master sent no gratuitous ARP"
            log_a = bed.log_text("a")
            assert "(VI_1) Entering MASTER STATE" in log_a, log_a
            assert "Traceback" not in log_a + bed.log_text("b")
            bed.stop("b", signal.SIGTERM)
        finally:
            for node in nodes:
                node.close()


class Container:
    """systemd booted as PID 1 in the installed root (systemd-nspawn --boot, its own network
    namespace with only lo), so the installed unit runs under real systemd with all its settings.
    Commands enter the container's namespaces and root by its PID 1 (nsenter); the host needs
    neither machined nor systemd as its own init (--register=no, --keep-unit)."""

    def __init__(self, root: Root, name: str, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", str(root.path), "--boot", "--private-network", "--register=no",
             "--keep-unit", f"--machine={name}", "--console=passive"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, env={"PATH": HOST_PATH}, start_new_session=True)
        self.leader = 0
        deadline = time.monotonic() + 30
        while not self.leader:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"systemd-nspawn did not start a container:\n{log.read_text()[-3000:]}")
            try:
                children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            except OSError:
                children = []
            self.leader = int(children[0]) if children else 0
            time.sleep(0.05)
        state = ""
        while state not in ("running", "degraded"):
            if time.monotonic() > deadline:
                raise AssertionError(f"container's systemd is '{state}', not running:\n{log.read_text()[-3000:]}")
            state = self.run("systemctl is-system-running", check=False).stdout.strip()
            time.sleep(0.2)

    def run(self, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run(["nsenter", "--target", str(self.leader), "--all", "--root", "--wd", "--",
                               "sh", "-c", command], check=False, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": HOST_PATH, "LC_ALL": "C.UTF-8", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"})
        if check and done.returncode != 0:
            journal = ""
            if command.startswith("systemctl"):
                journal = self.run("journalctl -u vipkeeper --no-pager -n 30", check=False).stdout
            raise AssertionError(f"in the container: {command!r} exited {done.returncode}\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{journal}")
        return done

    def wait(self, command: str, want: str, timeout: float) -> str:
        """Run `command` until its output contains `want` (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.run(command, check=False).stdout
            if want in out:
                return out
            if time.monotonic() > deadline:
                raise AssertionError(f"{command!r}: no {want!r} within {timeout:g}s; last output:\n{out}")
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # nspawn halts the container (systemd shuts down)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.leader, signal.SIGKILL)  # the container's PID 1: ends its PID namespace
                self.proc.kill()
                self.proc.wait(10)


TRACKED_CONF = """\
global_defs {
  enable_script_security
  script_user root
}
vrrp_track_process track_vk {
  process vktrack
  delay 0.2
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth9
  virtual_router_id 51
  priority 100
  advert_int 0.5
  version 3
  track_process {
    track_vk
  }
  notify_master "/bin/sh -c 'echo MASTER > /etc/vk-notify-state'"
  notify_fault "/bin/sh -c 'echo FAULT > /etc/vk-notify-state'"
  virtual_ipaddress {
    192.0.2.50/24
  }
}
"""


def test_installed_unit_under_systemd(installed, root: Root, tmp_path) -> None:
    """The unit as installed, run by systemd: condition, notify start, hardening in force, process
    tracking and a notify script writing under /etc, reload gated by check, stop."""
    conf = root.path / "etc/keepalived/keepalived.conf"
    if conf.exists():
        conf.unlink()
    shutil.copy("/bin/sleep", root.path / "usr/local/bin/vktrack")
    # The admin's tool to make the container's interface (every server has it; the package needs it not).
    root.run("apt-get install -y -q --no-install-recommends iproute2", timeout=300, archives=CACHE / "archives")
    box = Container(root, f"vkpkg{os.getpid()}", tmp_path / "console.log")
    try:
        # No configuration: the unit does not start (ConditionFileNotEmpty), like keepalived's.
        box.run("systemctl start vipkeeper")
        assert box.run("systemctl show -p ConditionResult --value vipkeeper").stdout.strip() == "no"
        assert box.run("systemctl is-active vipkeeper", check=False).stdout.strip() == "inactive"

        box.run("ip link add eth9 type veth peer name eth9p && ip link set eth9 up && ip link set eth9p up"
                " && ip addr add 192.0.2.1/24 dev eth9")
        box.run("/usr/local/bin/vktrack 600 >/dev/null 2>&1 & echo $! > /run/vktrack.pid")
        conf.write_text(TRACKED_CONF)
        # Type=notify: `systemctl start` returns once the daemon said READY=1.
        box.run("systemctl enable --now vipkeeper", timeout=60)
        assert box.run("systemctl is-active vipkeeper").stdout.strip() == "active"
        assert box.run("systemctl show -p StatusText --value vipkeeper").stdout.strip() == "vipkeeper running"
        box.wait("ip -br addr show eth9", "192.0.2.50/24", 10.0)
        pid = box.run("systemctl show -p MainPID --value vipkeeper").stdout.strip()
        capbnd = re.search(r"^CapBnd:\s*(\w+)$", box.run(f"cat /proc/{pid}/status").stdout, re.MULTILINE).group(1)  # type: ignore[union-attr]
        unit_caps = _unit_service(root)["CapabilityBoundingSet"][0].split()
        assert int(capbnd, 16).bit_count() == len(unit_caps), capbnd
        status = box.run("vipkeeper status").stdout
        assert re.search(r"^VI_1\s+MASTER", status, re.MULTILINE) and "track_vk" in status, status
        # WatchdogSec=10: the loop's own timers ping systemd every 5 s (daemon/loop_watch.py).
        loop = json.loads(box.run("vipkeeper status --json").stdout)["daemon"]["loop"]
        assert loop["watchdog_interval"] == 5.0 and loop["watchdog_pings"] >= 1, loop
        assert box.run("systemctl show -p WatchdogUSec --value vipkeeper").stdout.strip() == "10s"

        # keepalived's dump signals inside the sandbox: /tmp is the host's (no PrivateTmp), the
        # snapshot goes to the root-only runtime directory.
        box.run("systemctl kill --kill-whom=main -s SIGUSR1 vipkeeper")
        box.wait("ls /tmp/keepalived.data /run/vipkeeper/vipkeeper.json 2>/dev/null", "vipkeeper.json", 10.0)
        assert "VRRP Topology" in box.run("cat /tmp/keepalived.data").stdout or \
            "VI_1" in box.run("cat /tmp/keepalived.data").stdout
        assert box.run("stat -c %a /run/vipkeeper").stdout.strip() == "700"

        # A good reload: check, then SIGHUP; the daemon re-reads and keeps its VIP.
        box.run("systemctl reload vipkeeper")
        box.wait("journalctl -u vipkeeper --no-pager -o cat", "Reloading configuration", 10.0)
        assert "192.0.2.50/24" in box.run("ip -br addr show eth9").stdout

        # The tracked process dies: FAULT, the VIP goes, the notify script writes under /etc
        # (ProtectSystem=true leaves /etc writable), running inside the unit's sandbox.
        box.run("kill $(cat /run/vktrack.pid)")
        box.wait("cat /etc/vk-notify-state 2>/dev/null", "FAULT", 10.0)
        deadline = time.monotonic() + 5
        while "192.0.2.50" in box.run("ip -br addr show eth9").stdout:
            assert time.monotonic() < deadline, "the VIP stayed after the tracked process died"
            time.sleep(0.05)

        # Warnings only (check exits 5, as keepalived -t): logged, and the reload goes on.
        conf.write_text(TRACKED_CONF + "vrrp_unknown_thing 1\n")
        box.run("systemctl reload vipkeeper")
        box.wait("journalctl -u vipkeeper --no-pager -o cat", "Unknown keyword 'vrrp_unknown_thing'", 10.0)
        assert box.run("systemctl is-active vipkeeper").stdout.strip() == "active"

        # A broken file: the reload fails at `vipkeeper check` with FILE:LINE; the daemon runs on.
        conf.write_text(TRACKED_CONF + "vrrp_instance VI_2 {\n  virtual_router_id 52\n")
        refused = box.run("systemctl reload vipkeeper", check=False)
        assert refused.returncode != 0
        journal = box.run("journalctl -u vipkeeper --no-pager -o cat").stdout
        assert re.search(r"/etc/keepalived/keepalived\.conf:\d+: error: ", journal), journal[-2000:]
        assert box.run("systemctl is-active vipkeeper").stdout.strip() == "active"
        assert box.run("systemctl show -p MainPID --value vipkeeper").stdout.strip() == pid

        box.run("systemctl stop vipkeeper")
        assert box.run("systemctl is-active vipkeeper", check=False).stdout.strip() == "inactive"
        assert "Traceback" not in box.run("journalctl -u vipkeeper --no-pager -o cat").stdout
        # Left enabled on purpose: the purge below must clean up after an enabled unit too.
    finally:
        box.close()
        (root.path / "etc/vk-notify-state").unlink(missing_ok=True)
        (root.path / "usr/local/bin/vktrack").unlink(missing_ok=True)
        conf.unlink(missing_ok=True)


def test_purge_leaves_no_file_of_the_package(installed, root: Root) -> None:
    conf = root.path / "etc/keepalived/keepalived.conf"
    if conf.exists():
        conf.unlink()  # the admin's file, not the package's
    assert (root.path / "usr/sbin/vipkeeper").exists() and (root.path / "etc/default/vipkeeper").exists()
    root.run("apt-get purge -y -q vipkeeper")
    assert root.run("dpkg-query -W -f='${Status}' vipkeeper", check=False).stdout in ("", "unknown ok not-installed")
    # A path the package listed is left over when it exists now, did not exist before the install,
    # and is a file, or a directory that no other package owns (/usr/lib/python3 came with python3).
    leftovers = []
    for path in installed["files"] + installed["conffiles"]:
        full = root.path / path.lstrip("/")
        if path == "/." or path in root.before or not os.path.lexists(full):  # type: ignore[attr-defined]
            continue
        if full.is_dir() and not full.is_symlink() and root.run(f"dpkg -S {path}", check=False).returncode == 0:
            continue
        leftovers.append(path)
    # Any other new path naming vipkeeper. man-db's cache of formatted pages is man-db's, not the
    # package's: `man` (here run by systemd-analyze verify for Documentation=man:...) writes
    # /var/cache/man/cat*/*.gz, and man-db's daily job expires them.
    new = sorted(p for p in root.files() - root.before  # type: ignore[attr-defined]
                 if "vipkeeper" in p and not re.fullmatch(r"/var/cache/man/cat\d/vipkeeper(\.conf)?\.\d\.gz", p))
    assert leftovers == [] and new == [], f"left after purge: {leftovers + new}"
