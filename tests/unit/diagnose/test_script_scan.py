"""The shell-text reader behind lint's script rules."""

from __future__ import annotations

import pytest

from vipkeeper.diagnose.script_scan import program_names, same_program, scan


def one(text: str):
    checks = scan(text)
    assert len(checks) == 1, checks
    return checks[0]


@pytest.mark.parametrize("text, names, parsed, quiet", [
    ('[ -z "$(pidof haproxy)" ] && exit 1', ("haproxy",), True, False),
    ("n=`pidof nginx`", ("nginx",), True, False),
    ("pidof haproxy | wc -l", ("haproxy",), True, False),
    ("pidof -q haproxy || exit 1", ("haproxy",), False, True),
    ("if ! pidof -sq master; then exit 1; fi", ("master",), False, True),
    ("/bin/pidof haproxy > /dev/null", ("haproxy",), False, False),
    ("pidof -o %PPID haproxy", ("haproxy",), False, False),
])
def test_pidof(text, names, parsed, quiet):
    c = one(text)
    assert (c.tool, c.names, c.output_parsed, c.quiet) == ("pidof", names, parsed, quiet)


@pytest.mark.parametrize("text, tool, name, parsed", [
    ("pgrep -x haproxy >/dev/null", "pgrep", "haproxy", False),
    ('[ "$(pgrep -c nginx)" -gt 0 ]', "pgrep", "nginx", True),
    ("pgrep -f '/usr/sbin/haproxy -f /etc/haproxy.cfg'", "pgrep", "haproxy", False),
    ("killall -0 haproxy", "killall", "haproxy", False),
    ("ps aux | grep -v grep | grep postfix", "ps|grep", "postfix", True),
    ("systemctl is-active --quiet postfix", "systemctl", "postfix", False),
    ("service nginx status >/dev/null", "service", "nginx", False),
    ("kill -0 $(cat /var/spool/postfix/pid/master.pid)", "kill-0", "/var/spool/postfix/pid/master.pid", False),
])
def test_other_tools(text, tool, name, parsed):
    c = one(text)
    assert (c.tool, c.names[0], c.output_parsed) == (tool, name, parsed)


def test_comments_and_plain_words_are_not_checks():
    assert scan("# pidof haproxy\necho pidof is fine\nkillall haproxy\nsystemctl restart nginx\n") == []


def test_line_numbers_count_from_one():
    checks = scan("#!/bin/sh\n\npidof -q a || exit 1\npgrep b\n")
    assert [(c.line, c.names) for c in checks] == [(3, ("a",)), (4, ("b",))]


def test_program_names_map_units_to_processes():
    assert same_program("postfix", "master")
    assert same_program("postfix.service", "master")
    assert same_program("/usr/sbin/haproxy", "haproxy")
    assert same_program("master.pid", "postfix")
    assert not same_program("haproxy", "master")
    assert "a" * 15 in program_names("a" * 20)
