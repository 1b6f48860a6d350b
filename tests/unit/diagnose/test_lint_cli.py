"""`vipkeeper lint` end to end: the seed configs, the keepalived samples, output and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from vipkeeper.diagnose.cli import lint

REPO = Path(__file__).resolve().parents[3]
CORPUS = Path(os.environ.get("VIPKEEPER_CORPUS", REPO / "tests" / "data"))
SEED = CORPUS / "seed"
SAMPLES = sorted((CORPUS / "keepalived-samples").iterdir())


def run(*args: str):
    return CliRunner().invoke(lint, list(args), catch_exceptions=False)


def test_antipattern_seed_reports_duplicate_monitoring_and_pidof_parsing():
    result = run(str(SEED / "smtp-relay-antipattern.conf"), "--format", "json")
    assert result.exit_code == 2
    findings = json.loads(result.output)["findings"]
    dup = [f for f in findings if f["rule"] == "VK101"]
    assert {("haproxy" in f["message"], "master" in f["message"]) for f in dup} == {(True, False), (False, True)}
    parsed = [f for f in findings if f["rule"] == "VK102"]
    assert len(parsed) == 2 and all(f["file"].endswith("check_services.sh") and f["line"] == 3 for f in parsed)
    assert all(f["severity"] == "error" for f in parsed)


def test_antipattern_seed_under_root_finds_script_by_absolute_path(tmp_path):
    etc = tmp_path / "etc" / "keepalived"
    etc.mkdir(parents=True)
    (etc / "check_services.sh").write_text((SEED / "check_services.sh").read_text())
    os.chmod(etc / "check_services.sh", 0o755)
    result = run(str(SEED / "smtp-relay-antipattern.conf"), "--root", str(tmp_path), "--format", "json")
    findings = json.loads(result.output)["findings"]
    assert any(f["rule"] == "VK102" and f["file"] == str(etc / "check_services.sh") for f in findings)
    assert not any(f["rule"] == "VK111" for f in findings)  # found where the config says, no fallback note


def test_fixed_script_is_not_parsing_output(tmp_path):
    conf = (SEED / "smtp-relay-antipattern.conf").read_text()
    (tmp_path / "relay.conf").write_text(conf.replace("check_services.sh", "check_services_fixed.sh"))
    (tmp_path / "check_services_fixed.sh").write_text((SEED / "check_services_fixed.sh").read_text())
    findings = json.loads(run(str(tmp_path / "relay.conf"), "--format", "json").output)["findings"]
    rules = {f["rule"] for f in findings}
    assert "VK102" not in rules and "VK103" not in rules
    assert "VK101" in rules  # still watched twice


def test_recommended_pair_is_clean():
    result = run(str(SEED / "smtp-relay-node1.conf"), str(SEED / "smtp-relay-node2.conf"), "--strict")
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s), 0 info" in result.output


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_keepalived_sample_lints_without_traceback(sample):
    result = CliRunner().invoke(lint, [str(sample), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1, 2)
    json.loads(result.output)


def test_all_samples_together_as_one_cluster():
    result = CliRunner().invoke(lint, [str(p) for p in SAMPLES])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "file(s):" in result.output


def test_unreadable_config_is_one_error_line(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("vrrp_instance VI_1 {\n  state MASTER\n")
    result = run(str(bad))
    assert result.exit_code == 2
    assert "VK000" in result.output and str(bad) in result.output
    missing = run(str(tmp_path / "absent.conf"))
    assert missing.exit_code == 2 and "VK000" in missing.output


def test_strict_turns_warnings_into_exit_1(tmp_path):
    conf = tmp_path / "n.conf"
    conf.write_text("vrrp_track_process t {\n  process haproxy\n}\nvrrp_instance VI_1 {\n  interface eth0\n"
                    "  virtual_router_id 9\n  track_process {\n    t\n  }\n  virtual_ipaddress {\n    192.0.2.9\n  }\n}\n")
    assert run(str(conf)).exit_code == 0
    assert run(str(conf), "--strict").exit_code == 1


def test_rules_table_lists_every_rule():
    from vipkeeper.diagnose.lint_rules import RULES

    out = run("--rules").output
    for r in RULES:
        assert r.id in out and r.title in out
    assert len(json.loads(run("--rules", "--format", "json").output)["rules"]) == len(RULES)


def test_no_files_is_a_usage_error():
    assert CliRunner().invoke(lint, []).exit_code == 2
