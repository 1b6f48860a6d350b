"""The bench starts vipkeeper as the package does (issue 18's memory row is measured that way).

bench/daemons.py reads the unit's Environment= and the postinst's bytecode commands from debian/,
so a change there changes what the bench runs; these tests fail when the bench cannot find them
any more (it would then silently measure something else) or the two disagree.
"""

from __future__ import annotations

from bench import daemons


def test_the_bench_uses_the_units_environment_with_its_own_cache() -> None:
    env = daemons.unit_environment()
    assert env["PYTHONOPTIMIZE"] == "2" and env["PYTHONNODEBUGRANGES"] == "1"
    assert env["PYTHONPYCACHEPREFIX"] in (daemons.UNIT_CACHE, *daemons._cache)


def test_the_postinst_writes_the_cache_with_the_units_settings() -> None:
    unit = daemons.unit_environment()
    commands = daemons.postinst_commands("/usr/bin/python3", "/tmp/pkg/vipkeeper", "/tmp/cache")
    assert [argv[1:3] for _, argv in commands] == [["-m", "compileall"], ["-c", commands[1][1][2]]]
    assert commands[0][1][-1] == "/tmp/pkg/vipkeeper"
    assert "vipkeeper.daemon.runtime" in commands[1][1][2] and "compile_file" in commands[1][1][2]
    for env, _argv in commands:
        assert env["PYTHONPYCACHEPREFIX"] == "/tmp/cache"
        for name in ("PYTHONOPTIMIZE", "PYTHONNODEBUGRANGES"):
            assert env[name] == unit[name]


def test_the_entry_script_is_the_console_script_of_pyproject() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(daemons.__file__).resolve().parents[1] / "pyproject.toml").read_text())
    module, func = project["project"]["scripts"]["vipkeeper"].split(":")
    assert f"from {module} import {func}\n" in daemons.ENTRY_SCRIPT
    assert f"sys.exit({func}())" in daemons.ENTRY_SCRIPT
