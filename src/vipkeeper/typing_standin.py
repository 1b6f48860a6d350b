"""A stand-in for `typing` while asyncio is imported (RSS, issue 18).

Rule kept
---------
The daemon never loads the stdlib `typing` module (about 0.4 MiB of resident memory at 1,000
instances), and anything that imports `typing` later -- in the daemon or elsewhere -- gets the
real module.

How
---
Python 3.11's asyncio needs `typing` in two modules only, and only for annotations, which those
modules evaluate (they have no `from __future__ import annotations`): `asyncio.staggered`
(`import typing`; `typing.Optional[...]`, `typing.Iterable[...]`... in signatures, one of them on
an inner function, so at call time) and `asyncio.timeouts` (`from typing import final, Optional,
Type`; `final` decorates the Timeout class). `asyncio_tls.import_asyncio()` puts `STANDIN` in `sys.modules["typing"]`
for the length of a `with` block and removes it again: any name taken from it is a `Hint`, which
can be subscripted, called, or'ed and printed (an annotation that names what it stood for), and
`final` returns its argument marked `__final__` as the real one does. Those two asyncio modules
keep the stand-in as their global; the rest of asyncio never sees it.

vipkeeper's own modules on the daemon's path do not import `typing` at run time: they use
`TYPE_CHECKING = False` (a constant mypy and ruff treat as typing.TYPE_CHECKING) and string
annotations. tests/unit/test_typing_standin.py checks that a daemon's run path leaves `typing`
out, that asyncio's timeouts and happy eyeballs work, and that a later `import typing` is the real
one; a later Python whose asyncio takes anything else from `typing` fails that test first.
"""

from __future__ import annotations

import types


class Hint:
    """What a typing name stands for in an annotation; has no behaviour beyond being written."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __getitem__(self, args: object) -> Hint:
        items = args if isinstance(args, tuple) else (args,)
        return Hint(f"{self._text}[{', '.join(_name(a) for a in items)}]")

    def __call__(self, *args: object, **kwargs: object) -> Hint:
        return Hint(f"{self._text}(...)")

    def __or__(self, other: object) -> Hint:
        return Hint(f"{self._text} | {_name(other)}")

    def __ror__(self, other: object) -> Hint:
        return Hint(f"{_name(other)} | {self._text}")

    def __repr__(self) -> str:
        return f"typing.{self._text}"


def _name(obj: object) -> str:
    if isinstance(obj, Hint):
        return obj._text
    if isinstance(obj, list):
        return f"[{', '.join(_name(o) for o in obj)}]"
    return getattr(obj, "__qualname__", repr(obj))


def _final(obj: object) -> object:
    try:
        obj.__final__ = True  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        pass
    return obj


class _Standin(types.ModuleType):
    def __getattr__(self, name: str) -> Hint:
        if name.startswith("__"):
            raise AttributeError(name)
        return Hint(name)


STANDIN = _Standin("typing", "vipkeeper's stand-in for typing while asyncio is imported (typing_standin.py)")
STANDIN.final = _final  # type: ignore[attr-defined]
STANDIN.TYPE_CHECKING = False  # type: ignore[attr-defined]

