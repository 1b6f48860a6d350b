"""bench figure 9's inputs: the seed configuration as the relay pair writes it, the hypothetical
seed-w60 variant, and the log lines that count as a failing script (keepalived 2.2.7's own words,
as its vrrp_scheduler.c logs them; a timed-out run was missed before)."""

from bench.client import SCRIPT_FAIL, SCRIPT_TIMEOUT
from bench.relay import relay_config

NAMES = {"haproxy": "vkabcha", "master": "vkabcma"}


def test_seed_keeps_its_weight_and_tracks_the_nodes_names() -> None:
    text = relay_config("seed", "a", NAMES, "/x/check_services.sh", False)
    assert "weight -20" in text and "weight -60" not in text
    assert "process vkabcha" in text and "process vkabcma" in text
    assert 'script "/x/check_services.sh"' in text
    b = relay_config("seed", "b", NAMES, "/x/check_services.sh", False)
    assert "priority 100" in b and "state BACKUP" in b


def test_seed_w60_differs_from_the_seed_only_in_the_weight() -> None:
    seed = relay_config("seed", "a", NAMES, "/x/s.sh", False)
    w60 = relay_config("seed-w60", "a", NAMES, "/x/s.sh", False)
    assert "weight -60" in w60 and "weight -20" not in w60
    assert w60.replace("weight -60", "weight -20") == seed


def test_failing_script_lines() -> None:
    failing = ["Mon Nov 30 14:25:19 2026: VRRP_Script(chk_services) timed_out",
               "VRRP_Script(chk_services) failed (exited with status 1)",
               "Script `chk_services` now returning 1"]
    for line in failing:
        assert SCRIPT_FAIL.search(line), line
    assert SCRIPT_TIMEOUT.search(failing[0]) and not SCRIPT_TIMEOUT.search(failing[1])
    for line in ["VRRP_Script(chk_services) succeeded", "Script `chk_services` now returning 0"]:
        assert not SCRIPT_FAIL.search(line), line


def test_seed_qmax1_bounds_only_the_postfix_tracker() -> None:
    text = relay_config("seed-qmax1", "a", NAMES, "/x/s.sh", False)
    assert "  process vkabcma\n  quorum_max 1\n" in text
    assert text.count("quorum_max") == 1
    assert text.replace("  quorum_max 1\n", "") == relay_config("seed", "a", NAMES, "/x/s.sh", False)
