"""The keepalived configuration language below the keywords: files, lines and words.

Rules (keepalived 2.2.7, `man 5 keepalived.conf`, checked against `keepalived -t`)
- `#` and `!` start a comment anywhere outside quotes. Inside quotes they are text.
- Words are separated by whitespace. `"` and `'` quote: the quote characters are removed and the
  whitespace between them kept, so `ab" c "d` is the single word `ab c d`. Inside quotes the
  shell escapes work (`\\n`, `\\t`, `\\nnn`, `\\xXX`, `\\cC`, `\\C`).
- `{` and `}` outside quotes are block delimiters wherever they stand: `virtual_ipaddress {
  192.0.2.1/24 }` on one line is three lines to the parser, and so is a `{` alone on the next line.
  A brace may even close a block opened in another (included) file, as in keepalived.
- `include PATTERN` (and includer/includem/includew/includeb/includea) is recognised on the raw
  line, before conditionals and substitution, exactly as the man page warns. Relative patterns
  are relative to the directory of the including file; globs and `{a,b}` braces are expanded and
  the matches read in sorted order.
- `@ID rest` keeps `rest` only when ID equals the config id (`-i`); `@^ID rest` only when not.
- `$NAME=value` defines, `$NAME` (followed by whitespace or end of line) and `${NAME}` use a
  definition; undefined names are left as they are. Replacement happens at use time and is
  recursive. A definition whose value is `\\` continues on the following lines, each but the last
  ending in `\\`; using it produces those lines. `${_PWD}`, `${_INSTANCE}`, `${_RANDOM [MIN
  [MAX]]}`, `${_HASH}` and `${_BANG}` are predefined.
- `~SEQ(var, [start,] [step,] end)`, `~SEQx(...)` and `~LST(var, v1, v2, ...)` (or
  `~LST({a, b}, {1, 2}, ...)`) at the start of a line repeat the rest of the line.

Theory of operation: each physical line is turned into logical lines by the steps above, and
every logical line is split into `Line`s of three kinds: words, an opening brace, a closing
brace. Every `Line` carries the `Where` of the physical line it came from (for expanded
definitions: the line that used them). The reader is linear in the input; every place where
input could make it blow up (recursive definitions, sequences, nesting of includes, huge or
binary files) has a bound and ends in one `ConfigError`. The work bound counts what is read,
not only what comes out: every logical line, including those a definition expands to and that
turn out empty (a 1 KB file of definitions that multiply into empty lines would otherwise run
for hours), counts against MAX_LOGICAL_LINES, and every include opened against
MAX_INCLUDE_OPENS (a file that includes another twice, nested, opens 2**depth files).
Files are opened non-blocking and must be regular files: an include of a FIFO or a device
fails at once instead of hanging the reader.
"""

from __future__ import annotations

import collections
import os
import re
import stat

from vipkeeper.records import record

from .model import ConfigError, Diagnostic, Where

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any, Literal

WORDS: Literal[0] = 0
OPEN: Literal[1] = 1
CLOSE: Literal[2] = 2

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_INCLUDE_DEPTH = 32
MAX_EXPANSION_DEPTH = 32
MAX_LINES = 4_000_000
MAX_LOGICAL_LINES = 1_000_000  # logical lines read, emitted or not (empty expansions count too)
MAX_INCLUDE_OPENS = 10_000  # files opened by include, all together
MAX_EXPANSIONS = 250_000  # lines produced by ~SEQ/~LST altogether
MAX_LINE_CHARS = 1_000_000
INCLUDE_KEYWORDS = frozenset({"include", "includer", "includem", "includew", "includeb", "includea"})

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_DEFINITION = re.compile(r"\$(" + _NAME + r")=(.*)\Z", re.S)
_USE = re.compile(r"\$\{(" + _NAME + r")((?:\s[^}]*)?)\}|\$(" + _NAME + r")(?=\s|\Z)")
_SEQ_START = re.compile(r"~(SEQx?|LST)\(")
_GLOB_CHARS = re.compile(r"[*?\[{]")
_PLAIN_WORDS = re.compile(r"[{}]|[^\s{}]+")
_SPECIAL = frozenset("#!@$~\"'")
_CONTROL = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f]")


if TYPE_CHECKING:
    from typing import NamedTuple

    class Line(NamedTuple):
        """One logical line for the parser: words, or a lone `{` / `}`. (A tuple: there are many.)"""

        where: Where
        kind: int
        words: tuple[str, ...] = ()
else:  # the same tuple class, without importing typing
    Line = collections.namedtuple("Line", ("where", "kind", "words"), defaults=((),))
    Line.__doc__ = "One logical line for the parser: words, or a lone `{` / `}`. (A tuple: there are many.)"


@record(frozen=True)
class Lexed:
    lines: tuple[Line, ...]
    files: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]


def default_config_id() -> str:
    """keepalived's default config id: the first part of the node name."""
    return os.uname().nodename.split(".")[0]


def lex_file(path: str, *, config_id: str | None = None) -> Lexed:
    reader = _Reader(config_id)
    reader.read_file(path, path, None)
    return reader.result()


def lex_text(text: str, *, name: str = "<string>", config_id: str | None = None) -> Lexed:
    reader = _Reader(config_id)
    reader.read_text(text, name, directory=os.getcwd())
    return reader.result()


class _Reader:
    def __init__(self, config_id: str | None) -> None:
        self.config_id = default_config_id() if config_id is None else config_id
        self.definitions: dict[str, list[str]] = {}
        self.lines: list[Line] = []
        self.files: list[str] = []
        self.diagnostics: list[Diagnostic] = []
        self.stack: list[str] = []  # real paths of the files being read, for loop detection
        self.total_bytes = 0
        self.pwd = os.getcwd()
        self._rng: Any = None  # random.Random, made on first ~SEQ/~RAND use (import cost)
        self.expansions = 0
        self.logical = 0
        self.opens = 0

    def result(self) -> Lexed:
        return Lexed(tuple(self.lines), tuple(self.files), tuple(self.diagnostics))

    def warn(self, where: Where, message: str) -> None:
        self.diagnostics.append(Diagnostic(where, "warning", message))

    # -- files ---------------------------------------------------------------------------------

    def read_file(self, path: str, display: str, included_at: Where | None) -> None:
        where = included_at or Where(display, 0)
        real = os.path.realpath(path)
        if real in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(real):], real])
            raise ConfigError(where, f"include loop: {chain}")
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            raise ConfigError(where, f"includes nested more than {MAX_INCLUDE_DEPTH} deep")
        if included_at is not None:
            self.opens += 1
            if self.opens > MAX_INCLUDE_OPENS:
                raise ConfigError(where, f"more than {MAX_INCLUDE_OPENS} include files opened")
        data = _read_regular(path, display, where)
        self.total_bytes += len(data)
        if len(data) > MAX_FILE_BYTES or self.total_bytes > MAX_FILE_BYTES:
            raise ConfigError(where, f"configuration larger than {MAX_FILE_BYTES // 2**20} MiB")
        text = self._decode(data, display)
        self.stack.append(real)
        try:
            self.read_text(text, display, directory=os.path.dirname(path) or ".")
        finally:
            self.stack.pop()

    def _decode(self, data: bytes, display: str) -> str:
        nul = data.find(b"\x00")
        if nul >= 0:
            line = data.count(b"\n", 0, nul) + 1
            raise ConfigError(Where(display, line), "binary data (NUL byte): not a configuration file")
        controls = _CONTROL.findall(data[: 1024 * 1024])
        if len(controls) > 16:
            first = _CONTROL.search(data)
            line = data.count(b"\n", 0, first.start()) + 1 if first else 1
            raise ConfigError(Where(display, line), "binary data (control characters): not a configuration file")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self.warn(Where(display, line), "not valid UTF-8; undecodable bytes replaced")
            return data.decode("utf-8", errors="replace")

    def read_text(self, text: str, display: str, *, directory: str) -> None:
        self.files.append(display)
        saved_pwd, self.pwd = self.pwd, directory
        try:
            self._read_lines(text.split("\n"), display, directory)
        finally:
            self.pwd = saved_pwd

    def _read_lines(self, physical: list[str], display: str, directory: str) -> None:
        count = len(physical)
        index = 0
        while index < count:
            raw = physical[index]
            index += 1
            where = Where(display, index)
            if len(raw) > MAX_LINE_CHARS:
                raise ConfigError(where, f"line longer than {MAX_LINE_CHARS} characters")
            if _SPECIAL.isdisjoint(raw):
                text = raw.strip()
                if not text:
                    continue
                if not text.startswith("include"):
                    self._count_logical(where)
                    self._emit(text, where)
                    continue
            text = strip_comment(raw).strip()
            if not text:
                continue
            first = text.split(None, 1)[0]
            if first in INCLUDE_KEYWORDS:
                self._include(first, text[len(first):].strip(), where, directory)
                continue
            selected, rest = self._conditional(text)
            definition = _DEFINITION.match(rest)
            if definition and definition.group(2).strip() == "\\":
                body: list[str] = []
                while index < count:
                    more = strip_comment(physical[index]).strip()
                    index += 1
                    if more.endswith("\\"):
                        body.append(more[:-1].rstrip())
                    else:
                        body.append(more)
                        break
                if selected:
                    self.definitions[definition.group(1)] = [b for b in body if b]
                continue
            if selected:
                self._logical(rest, where, 0)

    def _include(self, keyword: str, pattern: str, where: Where, directory: str) -> None:
        if not pattern:
            self.warn(where, f"'{keyword}' without a file name - ignoring")
            return
        words = split_words(pattern, where, self.diagnostics)
        if not words:
            return
        pattern = words[0]
        full = pattern if os.path.isabs(pattern) else os.path.join(directory, pattern)
        if not _GLOB_CHARS.search(pattern):
            if not os.path.exists(full):
                raise ConfigError(where, f"cannot open include file '{pattern}': no such file")
            self.read_file(full, full, where)
            return
        import glob  # here: only a wildcard include needs it

        matches: list[str] = []
        for expanded in expand_braces(full):
            matches.extend(glob.glob(expanded))
        matches = sorted(set(matches))
        if not matches:
            self.warn(where, f"include '{pattern}' matches no file")
            return
        for match in matches:
            if os.path.isfile(match):
                self.read_file(match, match, where)

    # -- logical lines -------------------------------------------------------------------------

    def _conditional(self, text: str) -> tuple[bool, str]:
        if not text.startswith("@"):
            return True, text
        head, _, rest = text.partition(" ")
        rest = rest.strip()
        if "\t" in head:
            head, _, more = head.partition("\t")
            rest = (more + " " + rest).strip()
        if head.startswith("@^"):
            return head[2:] != self.config_id, rest
        return head[1:] == self.config_id, rest

    def _count_logical(self, where: Where) -> None:
        self.logical += 1
        if self.logical > MAX_LOGICAL_LINES:
            raise ConfigError(where, f"configuration expands to more than {MAX_LOGICAL_LINES} logical lines "
                              "(definitions that multiply?)")

    def _logical(self, text: str, where: Where, depth: int) -> None:
        self._count_logical(where)
        if depth > MAX_EXPANSION_DEPTH:
            raise ConfigError(where, "definitions or sequences nested too deeply (recursive definition?)")
        selected, text = self._conditional(text)
        if not selected or not text:
            return
        definition = _DEFINITION.match(text)
        if definition:
            value = definition.group(2).strip()
            self.definitions[definition.group(1)] = [value]
            return
        if text.startswith("~"):
            seq = _SEQ_START.match(text)
            if seq:
                self._sequence(seq.group(1), text, seq.end(), where, depth)
                return
        if "$" in text:
            replaced = self._substitute(text, where)
            if replaced != text:
                for piece in replaced.split("\n"):
                    piece = piece.strip()
                    if piece:
                        self._logical(piece, where, depth + 1)
                return
        self._emit(text, where)

    def _substitute(self, text: str, where: Where) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(3)
            value = self.definitions.get(name)
            if value is not None:
                return "\n".join(value)
            builtin = self._builtin(name, (match.group(2) or "").split(), where)
            return match.group(0) if builtin is None else builtin

        result = _USE.sub(replace, text)
        if len(result) > MAX_LINE_CHARS:
            raise ConfigError(where, "substitution produces a line longer than "
                              f"{MAX_LINE_CHARS} characters (recursive definition?)")
        return result

    def _builtin(self, name: str, args: list[str], where: Where) -> str | None:
        if name == "_PWD":
            return os.path.abspath(self.pwd)
        if name == "_INSTANCE":
            return self.config_id
        if name == "_HASH":
            return "#"
        if name == "_BANG":
            return "!"
        if name == "_RANDOM":
            try:
                low = int(args[0]) if args else 0
                high = int(args[1]) if len(args) > 1 else 32767
            except ValueError:
                self.warn(where, f"invalid ${{_RANDOM}} arguments '{' '.join(args)}'")
                return None
            if self._rng is None:
                import random

                self._rng = random.Random()
            return str(self._rng.randint(min(low, high), max(low, high)))
        return None

    def _sequence(self, kind: str, text: str, start: int, where: Where, depth: int) -> None:
        close = _matching_paren(text, start)
        if close < 0:
            self.warn(where, f"~{kind}( without a closing ')' - ignoring line")
            return
        spec = self._substitute(text[start:close], where)
        rest = text[close + 1:].strip()
        try:
            if kind == "LST":
                names, rows = _parse_list(spec)
            else:
                names, rows = _parse_seq(spec, hexadecimal=kind == "SEQx")
        except ValueError as exc:
            self.warn(where, f"invalid ~{kind}({spec}): {exc} - ignoring line")
            return
        for row in rows:
            self.expansions += 1
            if self.expansions > MAX_EXPANSIONS:
                raise ConfigError(where, f"~SEQ/~LST expand to more than {MAX_EXPANSIONS} lines")
            for name, value in zip(names, row):
                self.definitions[name] = [value]
            self._logical(rest, where, depth + 1)

    def _emit(self, text: str, where: Where) -> None:
        lines = self.lines
        if len(lines) > MAX_LINES:
            raise ConfigError(where, f"configuration expands to more than {MAX_LINES} lines")
        if '"' not in text and "'" not in text:
            if "{" not in text and "}" not in text:
                lines.append(Line(where, WORDS, tuple(text.split())))
                return
        words: list[str] = []
        for token, is_brace in tokenize(text, where, self.diagnostics):
            if is_brace:
                if words:
                    self.lines.append(Line(where, WORDS, tuple(words)))
                    words = []
                self.lines.append(Line(where, OPEN if token == "{" else CLOSE))
            else:
                words.append(token)
        if words:
            self.lines.append(Line(where, WORDS, tuple(words)))


def _read_regular(path: str, display: str, where: Where) -> bytes:
    """The contents of a regular file, opened without blocking: a FIFO, a device or a socket
    named as a configuration file is refused at once instead of hanging the reader."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except IsADirectoryError:
        raise ConfigError(where, f"cannot read '{display}': is a directory") from None
    except OSError as exc:
        raise ConfigError(where, f"cannot read '{display}': {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(where, f"cannot read '{display}': is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(where, f"cannot read '{display}': not a regular file")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_FILE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(where, f"cannot read '{display}': {exc.strerror or exc}") from None
    finally:
        os.close(fd)


# -- pure helpers ------------------------------------------------------------------------------


def strip_comment(line: str) -> str:
    """The line up to its first `#` or `!` outside quotes."""
    if "#" not in line and "!" not in line:
        return line
    quote = ""
    escaped = False
    for index, char in enumerate(line):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "#!":
            return line[:index]
    return line


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "e": "\x1b", "f": "\f", "n": "\n",
                   "r": "\r", "t": "\t", "v": "\v"}


def tokenize(text: str, where: Where, diagnostics: list[Diagnostic]) -> list[tuple[str, bool]]:
    """Words and braces of one logical line; `(token, is_brace)` pairs."""
    if '"' not in text and "'" not in text:
        return [(word, word in "{}") for word in _PLAIN_WORDS.findall(text)]
    tokens: list[tuple[str, bool]] = []
    current: list[str] = []
    in_word = False
    quote = ""
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        index += 1
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and index < length:
                decoded, index = _escape(text, index)
                current.append(decoded)
            else:
                current.append(char)
            continue
        if char in "\"'":
            quote = char
            in_word = True
        elif char.isspace():
            if in_word:
                tokens.append(("".join(current), False))
                current = []
                in_word = False
        elif char in "{}":
            if in_word:
                tokens.append(("".join(current), False))
                current = []
                in_word = False
            tokens.append((char, True))
        else:
            current.append(char)
            in_word = True
    if quote:
        diagnostics.append(Diagnostic(where, "warning", f"unterminated {quote}quoted string{quote}"))
    if in_word:
        tokens.append(("".join(current), False))
    return tokens


def _escape(text: str, index: int) -> tuple[str, int]:
    char = text[index]
    index += 1
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char], index
    if char in "01234567":
        end = index
        while end < len(text) and end - index < 2 and text[end] in "01234567":
            end += 1
        return chr(int(text[index - 1:end], 8) & 0xFF), end
    if char == "x":
        end = index
        while end < len(text) and text[end] in "0123456789abcdefABCDEF":
            end += 1
        if end == index:
            return "x", index
        return chr(int(text[index:end], 16) & 0xFF), end
    if char == "c" and index < len(text):
        return chr(ord(text[index].upper()) ^ 0x40), index + 1
    return char, index


def split_words(text: str, where: Where, diagnostics: list[Diagnostic]) -> list[str]:
    return [token for token, _ in tokenize(text, where, diagnostics)]


def expand_braces(pattern: str) -> list[str]:
    """csh-style `{a,b}` expansion (glob() does not do it); unbalanced braces stay literal."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    parts: list[str] = []
    last = start + 1
    for index in range(start, len(pattern)):
        char = pattern[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                parts.append(pattern[last:index])
                head, tail = pattern[:start], pattern[index + 1:]
                results: list[str] = []
                for part in parts:
                    results.extend(expand_braces(head + part + tail))
                    if len(results) > 10_000:
                        break
                return results
        elif char == "," and depth == 1:
            parts.append(pattern[last:index])
            last = index + 1
    return [pattern]


def _matching_paren(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _parse_int(value: str) -> int:
    return int(value.strip(), 0)


def _parse_seq(spec: str, *, hexadecimal: bool) -> tuple[list[str], list[list[str]]]:
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) < 2 or len(parts) > 4 or not re.fullmatch(_NAME, parts[0]):
        raise ValueError("expected (var, [start,] [step,] end)")
    numbers = [_parse_int(p) for p in parts[1:]]
    if len(numbers) == 1:
        end = numbers[0]
        start = 1 if end > 0 else -1
        step = 1 if end >= start else -1
    elif len(numbers) == 2:
        start, end = numbers
        step = 1 if end >= start else -1
    else:
        start, step, end = numbers
    if step == 0:
        raise ValueError("step 0")
    count = (end - start) // step + 1
    if count > MAX_LINES:
        raise ValueError(f"more than {MAX_LINES} values")
    values = range(start, end + (1 if step > 0 else -1), step)
    fmt = "{:x}" if hexadecimal else "{}"
    return [parts[0]], [[fmt.format(v)] for v in values]


def _parse_list(spec: str) -> tuple[list[str], list[list[str]]]:
    spec = spec.strip()
    if spec.startswith("{"):
        close = spec.find("}")
        if close < 0:
            raise ValueError("unbalanced '{'")
        names = [n.strip() for n in spec[1:close].split(",")]
        rest = spec[close + 1:].lstrip()
        if not rest.startswith(","):
            raise ValueError("no values")
        rows = [[v.strip() for v in group.split(",")]
                for group in re.findall(r"\{([^}]*)\}", rest)]
        if any(len(row) != len(names) for row in rows):
            raise ValueError("each value group needs one value per variable")
    else:
        name, _, values = spec.partition(",")
        names = [name.strip()]
        rows = [[v.strip()] for v in values.split(",")] if values.strip() else []
    if not rows or not all(re.fullmatch(_NAME, n) for n in names):
        raise ValueError("expected (var, value, ...)")
    return names, rows
