"""vipkeeper/records.py: a record behaves as the same class under `dataclasses.dataclass`."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from vipkeeper import records
from vipkeeper.records import COMPILE_AFTER, FrozenInstanceError, factory, field, fields, record, replace


def make(decorate, make_field):  # type: ignore[no-untyped-def]
    """The same three classes under `dataclass` or `record`."""

    @decorate(frozen=True, order=True)
    class Where:
        file: str
        line: int = 0

    @decorate(frozen=True)
    class Item:
        name: str
        where: Where = Where("<default>", 0)
        tags: tuple[str, ...] = ()
        extra: tuple = make_field(tuple)
        note: str | None = field(default=None, compare=False) if decorate is record else \
            dataclasses.field(default=None, compare=False)

        @property
        def upper(self) -> str:
            return self.name.upper()

    @decorate
    class Counter:
        hits: int = 0
        seen: dict = make_field(dict)

        def __post_init__(self) -> None:
            self.hits += 1

    return Where, Item, Counter


DC = make(dataclasses.dataclass, lambda f: dataclasses.field(default_factory=f))
RC = make(record, factory)


@pytest.mark.parametrize("classes", [DC, RC], ids=["dataclass", "record"])
def test_same_behaviour_under_both(classes) -> None:  # type: ignore[no-untyped-def]
    Where, Item, Counter = classes
    a = Item("x", Where("f", 3), ("t",))
    assert a == Item(name="x", where=Where(line=3, file="f"), tags=("t",))
    assert a != Item("y", Where("f", 3), ("t",))
    assert a == Item("x", Where("f", 3), ("t",), note="other")  # compare=False
    assert hash(a) == hash(Item("x", Where("f", 3), ("t",)))
    assert a.extra == ()
    assert a.upper == "X"
    assert Where("a", 2) < Where("b", 1) < Where("b", 2)
    assert sorted([Where("b", 1), Where("a", 9)]) == [Where("a", 9), Where("b", 1)]
    with pytest.raises(AttributeError):
        a.name = "z"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.name  # type: ignore[misc]
    with pytest.raises(TypeError):
        Item()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Item("x", name="y")  # type: ignore[misc]
    with pytest.raises(TypeError):
        Item("x", bogus=1)  # type: ignore[call-arg]
    c = Counter()
    assert c.hits == 1 and c.seen == {} and c.seen is not Counter().seen  # __post_init__ ran; fresh default
    c.hits = 5
    assert c == Counter(hits=4) and c != Counter()
    with pytest.raises(TypeError):
        hash(c)  # mutable and compared: unhashable, as a dataclass
    assert Item.__match_args__ == ("name", "where", "tags", "extra", "note")
    assert copy.deepcopy(a) == a and copy.copy(a) == a
    match a:
        case Item(name, Where(file, line)):
            assert (name, file, line) == ("x", "f", 3)
        case _:
            pytest.fail("no match")


def test_repr_as_dataclass() -> None:
    for (w1, i1, _), (w2, i2, _) in [(DC, RC)]:
        assert repr(i1("x", w1("f", 3))).split("Item(", 1)[1] == repr(i2("x", w2("f", 3))).split("Item(", 1)[1]


def test_frozen_error_is_an_attribute_error() -> None:
    _, Item, _ = RC
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'name'"):
        Item("x").name = "y"


def test_replace_fields_asdict() -> None:
    Where, Item, _ = RC
    a = Item("x", Where("f", 3))
    b = records.replace(a, tags=("u",))
    assert b == Item("x", Where("f", 3), ("u",)) and a.tags == ()
    assert [f.name for f in records.fields(a)] == ["name", "where", "tags", "extra", "note"]
    assert records.asdict(a) == {"name": "x", "where": {"file": "f", "line": 3}, "tags": (), "extra": (),
                                 "note": None}
    assert records.is_record(a) and not records.is_record(Item) and not records.is_record(("x",))
    with pytest.raises(TypeError):
        records.replace(("x",))  # type: ignore[type-var]


def test_defining_a_record_compiles_nothing_and_init_only_once_built_often(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    compiled: list[str] = []
    real = compile

    def counting(source, filename, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(filename)
        return real(source, filename, *args, **kwargs)

    monkeypatch.setattr("builtins.compile", counting)

    @record(frozen=True)
    class Point:
        x: int
        y: int = 0

    assert compiled == []  # dataclass would have compiled __init__, __repr__, __eq__, __hash__, ...
    built = [Point(i) for i in range(records.COMPILE_AFTER)]
    assert compiled == [] and built[3] == Point(3, 0)  # bound in Python so far (Point(3, 0) is one more)
    Point(1)
    assert compiled == ["<record test_defining_a_record_compiles_nothing_and_init_only_once_built_often.<locals>.Point>"]
    Point(3)
    assert len(compiled) == 1  # once per class


def test_compile_now_compiles_a_record_not_built_yet_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    compiled: list[str] = []
    real = compile

    def counting(source, filename, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(filename)
        return real(source, filename, *args, **kwargs)

    monkeypatch.setattr("builtins.compile", counting)

    @record(frozen=True, slots=True)
    class Event:
        name: str
        fault: bool = False

    records.compile_now(Event)
    assert len(compiled) == 1 and compiled[0].endswith("Event>")
    records.compile_now(Event)  # compiled already: nothing more
    e = Event("trk", fault=True)
    assert (e.name, e.fault) == ("trk", True) and e == Event("trk", True) and len(compiled) == 1
    for _ in range(records.COMPILE_AFTER + 2):
        Event("x")
    assert len(compiled) == 1  # the lazy path, which would compile at the ninth, is gone
    with pytest.raises(TypeError):
        Event()  # type: ignore[call-arg]


@pytest.mark.parametrize("compiled", [False, True], ids=["bound", "compiled"])
def test_init_bound_in_python_as_compiled(compiled: bool) -> None:
    made: list = []

    @record(frozen=True)
    class Thing:
        a: int
        b: str = "b"
        c: list = factory(list)

        def __post_init__(self) -> None:
            made.append(self.a)

    if compiled:
        for _ in range(records.COMPILE_AFTER + 1):
            Thing(0)
    t = Thing(1, c=[2])
    assert (t.a, t.b, t.c) == (1, "b", [2]) and made[-1] == 1
    assert list(vars(t)) == ["a", "b", "c"]  # the same layout either way
    assert Thing(1).c is not Thing(1).c
    for bad in [lambda: Thing(), lambda: Thing(1, a=2), lambda: Thing(1, d=3), lambda: Thing(1, "b", [], 4)]:
        with pytest.raises(TypeError):
            bad()


def test_mistakes_refused_as_dataclass_refuses_them() -> None:
    with pytest.raises(TypeError):
        @record
        class Bad:
            a: int = 0
            b: int

    with pytest.raises(ValueError):
        @record
        class Mutable:
            a: list = []  # noqa: RUF012


@record(frozen=True, slots=True, shared=("b", "c"))
class R:
    a: int
    b: float = 1.0
    c: tuple = ()
    d: str = "x"


def test_shared_fields_are_kept_once_per_combination_and_read_as_the_records_own() -> None:
    one, two, other = R(1), R(2, 1.0, ()), R(3, 1)  # 1 is not 1.0: a combination of its own
    assert not hasattr(one, "__dict__") and "b" not in R.__slots__ and "_shared" in R.__slots__
    assert one._shared is two._shared and other._shared is not one._shared  # type: ignore[attr-defined]
    assert (one.a, one.b, one.c, one.d) == (1, 1.0, (), "x") and type(other.b) is int
    assert [f.name for f in fields(R)] == ["a", "b", "c", "d"]
    moved = replace(one, b=2.5)
    assert moved.b == 2.5 and moved.a == 1 and one.b == 1.0
    assert R(1) == one and R(1) != moved and hash(R(1)) == hash(one)
    assert repr(one) == "R(a=1, b=1.0, c=(), d='x')"
    with pytest.raises(FrozenInstanceError):
        one.b = 3.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(moved)) == moved
    built = [R(i, 1.0, (i % 2,)) for i in range(3 * COMPILE_AFTER)]  # past the compiled __init__ too
    assert built[-1]._shared is built[1]._shared and built[-1].c == (1,) and built[-2].c == (0,)  # type: ignore[attr-defined]
    assert R(1, [1]).b == [1]  # an unhashable value: a tuple of that record's own


def test_shared_needs_slots_frozen_and_known_names() -> None:
    with pytest.raises(TypeError):
        @record(frozen=True, shared=("a",))
        class NoSlots:
            a: int = 0
    with pytest.raises(TypeError):
        @record(frozen=True, slots=True, shared=("z",))
        class Unknown:
            a: int = 0
