"""A stand-in for `inspect` while asyncio is imported (RSS, issue 18).

Rule kept
---------
The daemon never loads the stdlib `inspect` module, nor `ast` and `dis`, which only `inspect`
brings in (together about 0.7 MiB of resident memory), and asyncio behaves exactly as with the
real module. Anything that imports `inspect` later -- in the daemon or elsewhere -- gets the real
module.

How
---
Python 3.11's asyncio takes six predicates from `inspect`, each read at call time as
`inspect.NAME`: `iscoroutinefunction` (asyncio.coroutines: `add_signal_handler` and the debug
mode's callback checks), `unwrap` and `isfunction` (asyncio.format_helpers: the text of a callback
in "Exception in callback ..." and in reprs), `isgenerator` and `isawaitable` (asyncio.tasks: a
task's step and `ensure_future`), `iscoroutine` (asyncio.__main__, the REPL). `asyncio_tls.import_asyncio()` puts
`STANDIN` in `sys.modules["inspect"]` for the length of a `with` block and removes it again; the
asyncio modules imported in the block keep it as their global `inspect`. The six functions
here answer as the real ones do: the same type tests, the same code flags, the same walk of
`__wrapped__` chains with the same ValueError on a loop. They import nothing, so the paths that
use them (an exception in a callback included) work when the process is out of file
descriptors, where a late import would fail.

Any other name asked of the stand-in imports the real `inspect` and answers from it: correct,
but it costs the memory this module saves. tests/unit/test_inspect_standin.py compares each of
the six with the real module's over a set of objects (coroutine functions, partials, bound
methods, `functools.wraps` chains, generator-based coroutines, function-like objects), checks
that every `inspect.NAME` in this Python's asyncio sources is one of the six, and that the
daemon's run path leaves `inspect`, `ast` and `dis` out; a later Python whose asyncio takes
anything else from `inspect` fails that test first.
"""

from __future__ import annotations

import collections.abc
import functools
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# Code flags, as the `inspect` module names them (their values are CPython's, in `dis.COMPILER_FLAG_NAMES`)
CO_COROUTINE = 0x80
CO_ITERABLE_COROUTINE = 0x100
_MISSING = object()


def isfunction(obj: object) -> bool:
    """A function defined in Python (`def`, `lambda`, `async def`)."""
    return isinstance(obj, types.FunctionType)


def isgenerator(obj: object) -> bool:
    return isinstance(obj, types.GeneratorType)


def iscoroutine(obj: object) -> bool:
    """A coroutine object, from calling an `async def` function."""
    return isinstance(obj, types.CoroutineType)


def isawaitable(obj: object) -> bool:
    """What an `await` accepts: a coroutine, a generator made a coroutine by `types.coroutine`,
    or anything with `__await__`."""
    if isinstance(obj, types.CoroutineType):
        return True
    if isinstance(obj, types.GeneratorType) and obj.gi_code.co_flags & CO_ITERABLE_COROUTINE:
        return True
    return isinstance(obj, collections.abc.Awaitable)


def _functionlike(obj: object) -> bool:
    # An object that carries what a Python function does (a Cython-compiled one, for instance)
    if not callable(obj) or isinstance(obj, type):
        return False
    defaults = getattr(obj, "__defaults__", _MISSING)
    kwdefaults = getattr(obj, "__kwdefaults__", _MISSING)
    annotations = getattr(obj, "__annotations__", None)
    return (isinstance(getattr(obj, "__code__", None), types.CodeType)
            and isinstance(getattr(obj, "__name__", None), str)
            and (defaults is None or isinstance(defaults, tuple))
            and (kwdefaults is None or isinstance(kwdefaults, dict))
            and (annotations is None or isinstance(annotations, dict)))


def iscoroutinefunction(obj: object) -> bool:
    """An `async def` function, also behind bound methods and `functools.partial`."""
    while isinstance(obj, types.MethodType):
        obj = obj.__func__
    while isinstance(obj, functools.partial):
        obj = obj.func
    if not (isinstance(obj, types.FunctionType) or _functionlike(obj)):
        return False
    return bool(obj.__code__.co_flags & CO_COROUTINE)  # type: ignore[attr-defined]


def unwrap(func: object, *, stop: Callable[[object], bool] | None = None) -> object:
    """The end of `func`'s chain of `__wrapped__` attributes (where `stop` says so, if given);
    ValueError on a chain that loops or is longer than the recursion limit."""
    first = func
    seen = {id(func): func}  # the objects kept, so that no id is reused while walking
    limit = sys.getrecursionlimit()
    while hasattr(func, "__wrapped__") and (stop is None or not stop(func)):
        func = func.__wrapped__
        if id(func) in seen or len(seen) >= limit:
            raise ValueError(f"wrapper loop when unwrapping {first!r}")
        seen[id(func)] = func
    return func


PROVIDED = ("iscoroutinefunction", "unwrap", "isfunction", "isgenerator", "isawaitable", "iscoroutine")


class _Standin(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        import importlib

        # Not one of the six: the real module answers (the module docstring says what that costs)
        real = importlib.import_module("inspect")
        if real is self:  # while asyncio is imported (asyncio_tls._standing_in)
            raise AttributeError(f"{name}: not in vipkeeper's stand-in for inspect")
        return getattr(real, name)


STANDIN = _Standin("inspect", "vipkeeper's stand-in for inspect while asyncio is imported (inspect_standin.py)")
for _name in PROVIDED:
    setattr(STANDIN, _name, globals()[_name])
del _name

