"""Records: frozen (or plain) value classes like `dataclasses.dataclass`, cheap to define.

Rule: a class decorated with `record` behaves as the same class under `dataclass` with the same
flags -- the same `__init__` (positional and keyword, defaults, `factory` defaults,
`__post_init__`), `__eq__` and `__hash__` over the fields in order, `__repr__`, ordering with
`order=True`, `FrozenInstanceError` (an AttributeError) on assignment when frozen,
`__match_args__` -- and costs almost nothing to define.

Why: `dataclass` compiles every generated method with `exec` when the class is defined (about
six compilations per class); defining the configuration model and the VRRP core that way was a
fifth of the daemon's start-up and a third of `vipkeeper check` (issue 18, measured with
callgrind). Here `__eq__`, `__hash__`, `__repr__`, ordering and `__setattr__` are shared
closures (no compilation). `__init__` -- the one method whose speed matters, on the per-advert
path -- binds its arguments in Python for a class's first `COMPILE_AFTER` constructions (setting
the fields in the same order, so instances are laid out the same way), and is then compiled to
the same code `dataclass` generates, so it is as fast from then on. A class built a few times
in a process (most of the configuration model in `vipkeeper check`) never pays for a
compilation. `compile_now(cls, ...)` compiles at once, for classes built rarely but on a path
that must be quick (the daemon's failover records).

`shared=("a", "b", ...)` (with `slots=True, frozen=True`) keeps those fields, which most
records of a class have alike, in one object per distinct combination of values instead of a slot
each: the record holds a reference to that combination's one holder object (`_shared`, slotted)
and the fields read as its own through properties (`attrgetter("_shared.name")`, in C);
`fields`, `replace`, `asdict`, `==`, `hash`, `repr`, pickling are as without it. For what a
process holds a thousand of (the configuration's instances, issue 18).
Values are kept apart by type as well as by value (1 and 1.0, True and 1 stay as given).

`fields`, `replace` and `asdict` stand for their `dataclasses` namesakes (which do not accept
records). Only what vipkeeper uses is here: `slots=True` as dataclass's (the class made again with
`__slots__`); no `kw_only`, `InitVar`, `init=False`.
"""

from __future__ import annotations

from operator import attrgetter

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    T = TypeVar("T")


_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen record."""


class Field:
    """One field: its name, default (or factory) and whether it is compared and shown."""

    __slots__ = ("name", "default", "default_factory", "compare", "repr")

    def __init__(self, default: Any = _MISSING, default_factory: Any = _MISSING, compare: bool = True,
                 repr: bool = True) -> None:  # noqa: A002 (dataclasses' name)
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, compare: bool = True,
          repr: bool = True) -> Any:  # noqa: A002
    """A field with more than a plain default, as `dataclasses.field` (the subset vipkeeper uses)."""
    return Field(default, default_factory, compare, repr)


def factory(make: Callable[[], Any]) -> Any:
    """`field(default_factory=make)`."""
    return Field(default_factory=make)


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "") or str(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def record(cls: type[T] | None = None, /, *, frozen: bool = False, order: bool = False, eq: bool = True,
           slots: bool = False, shared: tuple[str, ...] = ()) -> Any:
    """Decorate a class with annotated fields as a record (see the module docstring)."""

    def wrap(cls: type[T]) -> type[T]:
        return _process(cls, frozen, order, eq, slots, tuple(shared))

    return wrap if cls is None else wrap(cls)


def _process(cls: type[T], frozen: bool, order: bool, eq: bool, slots: bool, shared: tuple[str, ...] = ()) -> type[T]:
    fields: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in getattr(base, "__record_fields__", ()):
            fields[f.name] = f
    own = cls.__dict__.get("__annotations__", {})
    for name, annotation in own.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name = name
        if isinstance(value, Field):  # as dataclasses: a plain default stays a class attribute
            if f.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        if f.default_factory is _MISSING and isinstance(f.default, (list, dict, set)):
            raise ValueError(f"mutable default {type(f.default).__name__} for field {name} is not allowed: "
                             "use factory()")
        fields.pop(name, None)
        fields[name] = f
    ordered = tuple(fields.values())
    seen_default = False
    for f in ordered:
        if f.default is not _MISSING or f.default_factory is not _MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    if shared:
        unknown = sorted(set(shared) - {f.name for f in ordered})
        if unknown or not (slots and frozen):
            raise TypeError(f"shared= needs slots=True, frozen=True and field names (not {unknown})")
    if slots:
        cls = _with_slots(cls, ordered, frozen, shared)
    cls.__record_fields__ = ordered  # type: ignore[attr-defined]
    cls.__record_shared__ = shared  # type: ignore[attr-defined]
    if shared:
        cls.__record_interned__ = {}  # type: ignore[attr-defined]
        # the shared values' holder: a slotted object, so a field reads in C (attrgetter "_shared.x")
        cls.__record_holder__ = type(f"{cls.__name__}Shared", (), {"__slots__": shared})  # type: ignore[attr-defined]
        for name in shared:
            setattr(cls, name, property(attrgetter("_shared." + name), doc=f"{name} (shared)"))
    cls.__record_frozen__ = frozen  # type: ignore[attr-defined]
    names = tuple(f.name for f in ordered)
    body = cls.__dict__

    def put(name: str, value: Any) -> None:
        if name not in body:
            setattr(cls, name, value)

    cls.__init__ = _lazy_init(cls)  # type: ignore[misc]
    put("__repr__", _repr_of(tuple(f.name for f in ordered if f.repr)))
    key = _key_of(tuple(f.name for f in ordered if f.compare))
    if eq:
        put("__eq__", _eq_of(key))
    explicit_hash = "__hash__" in body and not (body["__hash__"] is None and "__eq__" in body)
    if not explicit_hash:
        if eq and frozen:
            cls.__hash__ = _hash_of(key)  # type: ignore[method-assign]
        elif eq:
            cls.__hash__ = None  # type: ignore[assignment]
    if order:
        for name, op in (("__lt__", "__lt__"), ("__le__", "__le__"), ("__gt__", "__gt__"), ("__ge__", "__ge__")):
            if name in body:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}: order=True")
            setattr(cls, name, _order_of(key, op))
    if frozen:
        field_names = frozenset(names)

        def __setattr__(self: Any, name: str, value: Any) -> None:
            if type(self) is cls or name in field_names:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
            super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

        def __delattr__(self: Any, name: str) -> None:
            if type(self) is cls or name in field_names:
                raise FrozenInstanceError(f"cannot delete field {name!r}")
            super(cls, self).__delattr__(name)  # type: ignore[arg-type]

        cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
        cls.__delattr__ = __delattr__  # type: ignore[method-assign,assignment]
    put("__match_args__", names)
    return cls


def _with_slots(cls: type[T], fields: tuple[Field, ...], frozen: bool, shared: tuple[str, ...] = ()) -> type[T]:
    """The class made again with `__slots__` for its own fields (no `__dict__` per instance), as
    `dataclass(slots=True)` does; a frozen one gets the pickling/copying state methods too."""
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    inherited = {name for base in cls.__mro__[1:-1] for name in getattr(base, "__slots__", ())}
    body = dict(cls.__dict__)
    names = tuple(f.name for f in fields)
    for name in names:
        body.pop(name, None)  # a class attribute (the default) cannot share a slot's name
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = tuple(name for name in names if name not in inherited and name not in shared) + (
        ("_shared",) if shared else ())
    if frozen:
        def __getstate__(self: Any) -> list[Any]:
            return [getattr(self, name) for name in names]

        def __setstate__(self: Any, state: list[Any]) -> None:
            _put_all(type(self), self, fields, state)

        body.setdefault("__getstate__", __getstate__)
        body.setdefault("__setstate__", __setstate__)
    made = type(cls)(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return made  # type: ignore[return-value]


COMPILE_AFTER = 8  # constructions of a class before its __init__ is compiled


def _lazy_init(cls: type) -> Callable[..., None]:
    built = 0

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal built
        built += 1
        if built <= COMPILE_AFTER:
            _bind(cls, self, args, kwargs)
            return
        init = _compile_init(cls)
        cls.__init__ = init  # type: ignore[misc]
        init(self, *args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__record_lazy__ = True  # type: ignore[attr-defined]
    return __init__


def _bind(cls: type, self: Any, args: tuple, kwargs: dict[str, Any]) -> None:
    """What the compiled `__init__` does, without compiling: the same values, the same errors
    (TypeError for a missing, repeated or unknown argument), the fields set in the same order."""
    fields: tuple[Field, ...] = cls.__record_fields__  # type: ignore[attr-defined]
    where = f"{cls.__qualname__}.__init__()"
    if len(args) > len(fields):
        raise TypeError(f"{where} takes {len(fields) + 1} positional arguments but {len(args) + 1} were given")
    values = list(args)
    missing = []
    for f in fields[len(args):]:
        if f.name in kwargs:
            values.append(kwargs.pop(f.name))
        elif f.default is not _MISSING:
            values.append(f.default)
        elif f.default_factory is not _MISSING:
            values.append(f.default_factory())
        else:
            missing.append(f.name)
    if missing:
        raise TypeError(f"{where} missing {len(missing)} required argument(s): {', '.join(map(repr, missing))}")
    if kwargs:
        name = next(iter(kwargs))
        if any(f.name == name for f in fields):
            raise TypeError(f"{where} got multiple values for argument {name!r}")
        raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
    if cls.__record_shared__:  # type: ignore[attr-defined]
        _put_all(cls, self, fields, values)
    else:
        put = object.__setattr__ if cls.__record_frozen__ else setattr  # type: ignore[attr-defined]
        for f, value in zip(fields, values):
            put(self, f.name, value)
    if hasattr(cls, "__post_init__"):
        self.__post_init__()


_INTERNED_MAX = 4096  # distinct combinations of shared values kept per class (reloads bring new ones)


def _holder(cls: type, values: tuple) -> Any:
    holder = object.__new__(cls.__record_holder__)  # type: ignore[attr-defined]
    for name, value in zip(cls.__record_shared__, values):  # type: ignore[attr-defined]
        object.__setattr__(holder, name, value)
    return holder


def _intern(cls: type, values: tuple) -> Any:
    """The one holder of a class's shared values equal to `values` (by value and type)."""
    interned: dict = cls.__record_interned__  # type: ignore[attr-defined]
    try:
        key = (values, tuple(map(type, values)))
        found = interned.get(key)
    except TypeError:  # an unhashable value: this record keeps a holder of its own
        return _holder(cls, values)
    if found is None:
        if len(interned) >= _INTERNED_MAX:
            interned.clear()
        found = interned[key] = _holder(cls, values)
    return found


def _put_all(cls: type, self: Any, fields: tuple[Field, ...], values: Any) -> None:
    """Set a frozen record's fields to `values` (in field order), the shared ones as one tuple."""
    shared: tuple[str, ...] = getattr(cls, "__record_shared__", ())
    if not shared:
        for f, value in zip(fields, values):
            object.__setattr__(self, f.name, value)
        return
    by_name = {}
    for f, value in zip(fields, values):
        if f.name in shared:
            by_name[f.name] = value
        else:
            object.__setattr__(self, f.name, value)
    object.__setattr__(self, "_shared", _intern(cls, tuple(by_name[n] for n in shared)))


def compile_now(*classes: type) -> None:
    """Give these records their compiled `__init__` now, however few were built so far. For the
    records a failover builds a handful of times in a daemon's life (its events and actions):
    unprepared, the first eight of each bind in Python on that failover's path and the ninth
    compiles there (issue 18); the daemon calls this once it has started, off that path."""
    for cls in classes:
        if getattr(cls.__init__, "__record_lazy__", False):
            cls.__init__ = _compile_init(cls)  # type: ignore[misc]


def _compile_init(cls: type) -> Callable[..., None]:
    """The `__init__` dataclasses would generate for this record, compiled now."""
    fields: tuple[Field, ...] = cls.__record_fields__  # type: ignore[attr-defined]
    frozen = cls.__record_frozen__  # type: ignore[attr-defined]
    shared: tuple[str, ...] = cls.__record_shared__  # type: ignore[attr-defined]
    env: dict[str, Any] = {"__object": object, "__MISSING": _MISSING}
    params = ["self"]
    lines = []
    for i, f in enumerate(fields):
        value = f.name
        if f.default_factory is not _MISSING:
            env[f"__factory{i}"] = f.default_factory
            params.append(f"{f.name}=__MISSING")
            value = f"__factory{i}() if {f.name} is __MISSING else {f.name}"
        elif f.default is not _MISSING:
            env[f"__default{i}"] = f.default
            params.append(f"{f.name}=__default{i}")
        else:
            params.append(f.name)
        if f.name in shared:
            lines.append(f"  __s{shared.index(f.name)} = {value}")
        else:
            lines.append(f"  __object.__setattr__(self, {f.name!r}, {value})" if frozen else f"  self.{f.name} = {value}")
    if shared:
        env["__intern"] = _intern
        env["__cls"] = cls
        items = "".join(f"__s{i}, " for i in range(len(shared)))
        lines.append(f"  __object.__setattr__(self, '_shared', __intern(__cls, ({items})))")
    if hasattr(cls, "__post_init__"):
        lines.append("  self.__post_init__()")
    if not lines:
        lines.append("  pass")
    source = f"def __init__({', '.join(params)}):\n" + "\n".join(lines) + "\n"
    scope: dict[str, Any] = {}
    exec(compile(source, f"<record {cls.__qualname__}>", "exec"), env, scope)  # noqa: S102 (our own text)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init  # type: ignore[no-any-return]


def _key_of(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    if not names:
        return lambda self: ()
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda self: (get(self),)
    return attrgetter(*names)


def _repr_of(names: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({inner})"

    return __repr__


def _eq_of(key: Callable[[Any], tuple]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    return __eq__


def _hash_of(key: Callable[[Any], tuple]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(key(self))

    return __hash__


def _order_of(key: Callable[[Any], tuple], op: str) -> Callable[[Any, Any], Any]:
    compare = getattr(tuple, op)

    def method(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return compare(key(self), key(other))
        return NotImplemented

    method.__name__ = op
    return method


def is_record(value: Any) -> bool:
    """A record instance (not a record class)."""
    return hasattr(type(value), "__record_fields__") and not isinstance(value, type)


def fields(value: Any) -> tuple[Field, ...]:
    """The fields of a record or record class, in order (each has `.name`)."""
    try:
        return value.__record_fields__  # type: ignore[no-any-return]
    except AttributeError:
        raise TypeError(f"not a record: {value!r}") from None


def replace(value: T, /, **changes: Any) -> T:
    """A copy of the record `value` with `changes`, as `dataclasses.replace`."""
    for f in fields(value):
        if f.name not in changes:
            changes[f.name] = getattr(value, f.name)
    return value.__class__(**changes)


def asdict(value: Any) -> Any:
    """The record as a dict of its fields, records within turned into dicts too (recursively,
    through lists, tuples and dicts), as `dataclasses.asdict`."""
    if is_record(value):
        return {f.name: asdict(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[asdict(v) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(asdict(v) for v in value)
    if isinstance(value, dict):
        return type(value)((asdict(k), asdict(v)) for k, v in value.items())
    return value
