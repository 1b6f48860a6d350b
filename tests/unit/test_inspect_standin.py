"""asyncio imported with vipkeeper's stand-in for `inspect` (vipkeeper/inspect_standin.py)
answers as with the real module, and the daemon's run path leaves inspect, ast and dis out
(issue 18, RSS).

The run-path checks run a fresh interpreter with -S, as test_typing_standin.py's do.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import types
from pathlib import Path

import pytest

from vipkeeper import inspect_standin
from tests.unit.test_typing_standin import RUN_PATH, run_python


# -- the six predicates against the real module ------------------------------------------------

async def _coro_fn(x: int = 1) -> int:
    return x


def _plain_fn(x: int = 1) -> int:
    return x


def _gen_fn():  # type: ignore[no-untyped-def]
    yield 1


async def _agen_fn():  # type: ignore[no-untyped-def]
    yield 1


@types.coroutine
def _gen_coro():  # type: ignore[no-untyped-def]
    yield


class _Klass:
    async def amethod(self) -> None:
        pass

    def method(self) -> None:
        pass

    @staticmethod
    async def astatic() -> None:
        pass

    @classmethod
    async def aclass(cls) -> None:
        pass


class _Awaitable:
    def __await__(self):  # type: ignore[no-untyped-def]
        yield


class _Functionlike:
    """Carries what a Python function does, as a Cython-compiled function does."""

    def __init__(self, code: types.CodeType, annotations: object = None) -> None:
        self.__code__ = code
        self.__name__ = "functionlike"
        self.__defaults__ = None
        self.__kwdefaults__ = None
        self.__annotations__ = annotations

    def __call__(self) -> None:
        pass


class _Wrapped:
    def __init__(self, inner: object) -> None:
        self.__wrapped__ = inner


def _wraps_chain():  # type: ignore[no-untyped-def]
    @functools.wraps(_coro_fn)
    def outer(*a, **k):  # type: ignore[no-untyped-def]
        return _coro_fn(*a, **k)

    @functools.wraps(outer)
    def outermost(*a, **k):  # type: ignore[no-untyped-def]
        return outer(*a, **k)
    return outermost


def _objects() -> list[object]:
    k = _Klass()
    coro = _coro_fn()
    gen = _gen_fn()
    gen_coro = _gen_coro()
    agen = _agen_fn()
    objs: list[object] = [
        _coro_fn, _plain_fn, _gen_fn, _agen_fn, _gen_coro, lambda: None, k.amethod, k.method, _Klass.amethod,
        _Klass.astatic, _Klass.aclass, k.aclass, functools.partial(_coro_fn, 2),
        functools.partial(functools.partial(_coro_fn), 3), functools.partial(_plain_fn, 2), _wraps_chain(),
        coro, gen, gen_coro, agen, _Awaitable(), asyncio.Future, len, print, _Klass, type, object(), None, 3, "x",
        _Functionlike(_coro_fn.__code__), _Functionlike(_plain_fn.__code__), _Functionlike(_coro_fn.__code__, "bad"),
        _Wrapped(_plain_fn), _Wrapped(_Wrapped(_coro_fn)), types.MethodType(_coro_fn, k),
        types.MethodType(functools.partial(_coro_fn), k), _Klass.__init__, str.upper, "".upper,
    ]
    # the coroutines and generators are closed once compared: no "never awaited" warnings
    objs.append(_Closer([coro, gen, gen_coro, agen]))
    return objs


class _Closer:
    def __init__(self, items: list) -> None:
        self.items = items

    def close(self) -> None:
        for item in self.items:
            if hasattr(item, "aclose"):
                item.aclose().close()
            else:
                item.close()


@pytest.mark.parametrize("name", ["iscoroutinefunction", "isfunction", "isgenerator", "isawaitable", "iscoroutine"])
def test_predicates_answer_as_the_real_inspect(name: str) -> None:
    objs = _objects()
    try:
        ours = [getattr(inspect_standin, name)(o) for o in objs]
        real = [getattr(inspect, name)(o) for o in objs]
    finally:
        objs[-1].close()  # type: ignore[attr-defined]
    assert ours == real
    assert set(real) == {True, False}  # the set of objects tells the two answers apart


def test_unwrap_as_the_real_inspect() -> None:
    chain = _wraps_chain()
    assert inspect_standin.unwrap(chain) is inspect.unwrap(chain) is _coro_fn
    assert inspect_standin.unwrap(_plain_fn) is _plain_fn
    nested = _Wrapped(_Wrapped(_plain_fn))
    assert inspect_standin.unwrap(nested) is inspect.unwrap(nested) is _plain_fn
    stop_at_first_wrapped = lambda f: isinstance(f, _Wrapped) and not isinstance(f.__wrapped__, _Wrapped)  # noqa: E731
    assert (inspect_standin.unwrap(nested, stop=stop_at_first_wrapped)
            is inspect.unwrap(nested, stop=stop_at_first_wrapped) is nested.__wrapped__)
    loop = _Wrapped(None)
    loop.__wrapped__ = _Wrapped(loop)
    for unwrap in (inspect_standin.unwrap, inspect.unwrap):
        with pytest.raises(ValueError, match="wrapper loop when unwrapping"):
            unwrap(loop)


# -- what asyncio takes from inspect ----------------------------------------------------------

def test_every_name_asyncio_takes_from_inspect_is_provided() -> None:
    names = set()
    for path in Path(asyncio.__file__).parent.glob("*.py"):
        names |= set(re.findall(r"\binspect\.(\w+)", path.read_text()))
    assert names, "this Python's asyncio no longer uses inspect: the stand-in can go"
    assert names <= set(inspect_standin.PROVIDED), f"asyncio takes {sorted(names - set(inspect_standin.PROVIDED))} too"
    for name in inspect_standin.PROVIDED:
        assert getattr(inspect_standin.STANDIN, name) is getattr(inspect_standin, name)


def test_standin_hands_other_names_to_the_real_module() -> None:
    assert inspect_standin.STANDIN.signature is inspect.signature
    with pytest.raises(AttributeError):
        inspect_standin.STANDIN.__wrapped__  # noqa: B018


# -- the daemon's run path, in a fresh interpreter ----------------------------------------------

ASYNCIO_WITH_STANDIN = r'''
import asyncio, functools, logging, signal, io
results = {"standin": type(asyncio.coroutines.inspect).__name__, "inspect_loaded": 'inspect' in sys.modules}
stream = io.StringIO()
logging.basicConfig(stream=stream, level=logging.ERROR)

def boom():
    raise RuntimeError("callback failed")

async def handler_coro():
    pass

class Awaitable:
    def __await__(self):
        return asyncio.sleep(0, "awaited").__await__()

async def main():
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGUSR2, handler_coro)
        results["signal_coro"] = "accepted"
    except TypeError as exc:
        results["signal_coro"] = str(exc)
    loop.add_signal_handler(signal.SIGUSR2, boom)
    loop.remove_signal_handler(signal.SIGUSR2)
    loop.call_soon(functools.partial(boom))
    await asyncio.sleep(0.01)
    results["ensure_future"] = await asyncio.ensure_future(Awaitable())
    async def yields_bare_generator():
        yield_ = (x for x in ())
        await _BareYield(yield_)
    class _BareYield:
        def __init__(self, g): self.g = g
        def __await__(self):
            yield self.g
    try:
        await asyncio.create_task(yields_bare_generator())
    except RuntimeError as exc:
        results["bare_generator"] = "yield was used instead of yield from" in str(exc)
    loop.set_debug(True)
    try:
        loop.call_soon(handler_coro)
        results["debug_call_soon"] = "accepted"
    except TypeError as exc:
        results["debug_call_soon"] = str(exc)
    loop.set_debug(False)

asyncio.run(main())
results["logged"] = "Exception in callback boom()" in stream.getvalue() and "callback failed" in stream.getvalue()
results["inspect_after"] = 'inspect' in sys.modules
results["ast_dis"] = [m for m in ("ast", "dis") if m in sys.modules]
'''


def run_as_unit(code: str) -> dict:
    """`code` in a fresh interpreter (-S, as test_typing_standin.py's) with the settings the
    unit gives the daemon: PYTHONNODEBUGRANGES among them, without which a traceback's text
    (Python 3.11's carets under the failing expression) imports `ast` when it is written."""
    return run_python(code, PYTHONNODEBUGRANGES="1", PYTHONOPTIMIZE="2")


def test_daemon_run_path_leaves_inspect_ast_and_dis_out_and_asyncio_works() -> None:
    out = run_as_unit(
        RUN_PATH + ASYNCIO_WITH_STANDIN
        + "import json\n"
        "import inspect\n"
        "results['real_later'] = inspect.__file__.endswith('inspect.py') and inspect.signature(boom) is not None\n"
        "print(json.dumps(results))")
    assert out == {
        "standin": "_Standin", "inspect_loaded": False,
        "signal_coro": "coroutines cannot be used with add_signal_handler()",
        "ensure_future": "awaited", "bare_generator": True,
        "debug_call_soon": "coroutines cannot be used with call_soon()",
        "logged": True, "inspect_after": False, "ast_dis": [], "real_later": True,
    }

