"""The keepalived language below keywords: comments, quotes, braces, includes, conditionals,
definitions, sequences. Each test reads a small text and looks at the model or the lines."""

from __future__ import annotations

import os

import pytest

from vipkeeper.config import ConfigError, loads, load
from vipkeeper.config.lexer import CLOSE, OPEN, WORDS, expand_braces, lex_text, strip_comment

INSTANCE = """
vrrp_instance VI_1 {{
  interface eth0
  virtual_router_id 51
  {body}
  virtual_ipaddress {{
    192.0.2.10/24
  }}
}}
"""


def one(body: str, **kwargs):
    config = loads(INSTANCE.format(body=body), **kwargs)
    assert len(config.instances) == 1, config.diagnostics
    return config, config.instances[0]


def words(text: str, config_id: str = "x") -> list[tuple[int, tuple[str, ...]]]:
    return [(line.kind, line.words) for line in lex_text(text, config_id=config_id).lines]


def test_comments_hash_and_bang_anywhere_but_not_in_quotes():
    assert strip_comment("priority 100 # high") == "priority 100 "
    assert strip_comment("priority 100! high") == "priority 100"
    assert strip_comment('notify "/bin/echo a#b" ! c') == 'notify "/bin/echo a#b" '
    _, instance = one('priority 120 # comment\n  notify_master "/bin/echo a#b!c"')
    assert instance.priority == 120
    assert instance.notify.master.command == "/bin/echo a#b!c"


def test_quotes_keep_inner_whitespace_and_join_adjacent_text():
    assert words('x abcd" efg h jkl "mnop') == [(WORDS, ("x", "abcd efg h jkl mnop"))]
    assert words("x abcd 'efg h' mnop") == [(WORDS, ("x", "abcd", "efg h", "mnop"))]


def test_quoted_escapes():
    assert words(r'x "a\tb\x41\101\"q\\"') == [(WORDS, ("x", 'a\tbAA"q\\'))]


def test_braces_on_same_line_next_line_and_inline_items():
    lines = words("virtual_ipaddress { 192.0.2.1/24 }")
    assert lines == [(WORDS, ("virtual_ipaddress",)), (OPEN, ()), (WORDS, ("192.0.2.1/24",)), (CLOSE, ())]
    config = loads("vrrp_instance VI_1 { interface eth0\n virtual_router_id 9\n"
                   " virtual_ipaddress\n {\n 192.0.2.1/24\n }\n}\n")
    assert [str(v.address) for v in config.instances[0].virtual_ipaddress] == ["192.0.2.1/24"]
    config = loads("vrrp_instance VI_1 { interface eth0\n virtual_router_id 9\n"
                   " virtual_ipaddress { 192.0.2.1/24 }\n}\n")
    assert config.instances[0].virtual_ipaddress[0].ip.compressed == "192.0.2.1"


def test_quoted_brace_is_a_word():
    assert words('x "{" y') == [(WORDS, ("x", "{", "y"))]


def test_every_line_knows_file_and_line():
    config = loads("\n\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n"
                   " bogus_word 1\n virtual_ipaddress { 192.0.2.1 }\n}\n", name="test.conf")
    instance = config.instances[0]
    assert str(instance.where) == "test.conf:3"
    assert str(instance.virtual_ipaddress[0].where) == "test.conf:7"
    assert [str(d) for d in config.diagnostics] == ["test.conf:6: warning: Unknown keyword 'bogus_word'"]


def test_conditional_lines_follow_config_id():
    body = "@main priority 240\n  @backup priority 200\n  @^main advert_int 3"
    _, main = one(body, config_id="main")
    _, backup = one(body, config_id="backup")
    _, other = one(body, config_id="other")
    assert (main.priority, main.advert_int) == (240, 1.0)
    assert (backup.priority, backup.advert_int) == (200, 3.0)
    assert (other.priority, other.advert_int) == (100, 3.0)


def test_definitions_substitution_and_late_binding():
    text = ("$BASE=192.0.2.${SUB}\n$SUB=7\n$PRI=150\n@main $PRI=250\n"
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n priority $PRI\n"
            " virtual_ipaddress {\n ${BASE}/24\n $UNDEFINED\n }\n}\n")
    config = loads(text, config_id="main")
    instance = config.instances[0]
    assert instance.priority == 250
    assert str(instance.virtual_ipaddress[0].address) == "192.0.2.7/24"
    # an undefined name stays as written, and then is an invalid address
    assert any("$UNDEFINED" in d.message for d in config.diagnostics)


def test_multiline_definition_expands_to_lines_with_conditionals_inside():
    text = ("$INST= \\\n"
            "vrrp_instance VI_${N} { \\\n"
            "  interface eth0 \\\n"
            "  virtual_router_id ${N} \\\n"
            "  @high priority 130 \\\n"
            "  @low priority 120 \\\n"
            "  virtual_ipaddress { \\\n"
            "    192.0.2.${N}/24 \\\n"
            "  } \\\n"
            "}\n"
            "$N=1\n$INST\n$N=2\n$INST\n")
    config = loads(text, config_id="high", name="m.conf")
    assert [(i.name, i.virtual_router_id, i.priority) for i in config.instances] == [
        ("VI_1", 1, 130), ("VI_2", 2, 130)]
    assert config.instances[1].where.line == 14  # the line that used the definition
    assert not config.diagnostics


def test_predefined_names():
    lexed = lex_text("x ${_HASH} ${_BANG} ${_INSTANCE} ${_RANDOM 5 5}", config_id="node7")
    assert lexed.lines[0].words == ("x", "#", "!", "node7", "5")
    pwd = lex_text("x ${_PWD}", config_id="a").lines[0].words[1]
    assert os.path.isabs(pwd)


def test_seq_and_lst():
    assert [l.words for l in lex_text("~SEQ(S, 0, 3) a 10.0.${S}.1").lines] == [
        ("a", f"10.0.{n}.1") for n in range(4)]
    assert [l.words[1] for l in lex_text("~SEQx(S, 0x90, 0x10, 0xc0) a fe80::${S}").lines] == [
        "fe80::90", "fe80::a0", "fe80::b0", "fe80::c0"]
    assert [l.words[1] for l in lex_text("~SEQ(S, 3) a ${S}").lines] == ["1", "2", "3"]
    assert [l.words for l in lex_text("~LST({A, B}, {10,1},{20,4}) 192.${A}.${B}").lines] == [
        ("192.10.1",), ("192.20.4",)]
    assert [l.words[0] for l in lex_text("~LST(A, 1, 2) ~LST(B, 5, 6) ${A}.${B}").lines] == [
        "1.5", "1.6", "2.5", "2.6"]


def test_seq_builds_many_vips():
    config = loads("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n"
                   " virtual_ipaddress {\n ~SEQ(N, 1, 50) 192.0.2.${N}/24\n }\n}\n")
    assert len(config.instances[0].virtual_ipaddress) == 50


def test_include_relative_to_including_file_and_globs(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "conf.d").mkdir()
    (tmp_path / "main.conf").write_text("include sub/a.conf\n")
    (tmp_path / "sub" / "a.conf").write_text("include conf.d/*.conf\n")
    for n in (2, 1):
        (tmp_path / "sub" / "conf.d" / f"{n}.conf").write_text(
            f"vrrp_instance VI_{n} {{\n interface eth0\n virtual_router_id {n}\n"
            f" virtual_ipaddress {{ 192.0.2.{n} }}\n}}\n")
    cwd = os.getcwd()
    os.chdir("/")
    try:
        config = load(str(tmp_path / "main.conf"))
    finally:
        os.chdir(cwd)
    assert [i.name for i in config.instances] == ["VI_1", "VI_2"]  # sorted glob order
    assert config.instances[0].where.file.endswith("sub/conf.d/1.conf")
    assert len(config.files) == 4


def test_include_glob_without_match_warns(tmp_path):
    (tmp_path / "main.conf").write_text("include conf.d/*.conf\n")
    config = load(str(tmp_path / "main.conf"))
    assert [d.severity for d in config.diagnostics] == ["warning"]


def test_braces_may_span_include_files(tmp_path):
    (tmp_path / "main.conf").write_text("vrrp_instance VI_1 {\n interface eth0\n include body.conf\n")
    (tmp_path / "body.conf").write_text("virtual_router_id 4\n virtual_ipaddress { 192.0.2.4 }\n}\n")
    config = load(str(tmp_path / "main.conf"))
    assert config.instances[0].virtual_router_id == 4


def test_brace_expansion():
    assert expand_braces("a/{b,c{d,e}}/f") == ["a/b/f", "a/cd/f", "a/ce/f"]
    assert expand_braces("a{b") == ["a{b"]


def test_recursive_definition_is_a_clear_error():
    with pytest.raises(ConfigError) as info:
        loads("$A=x $A\n$A\n", name="r.conf")
    assert info.value.where.line == 2
