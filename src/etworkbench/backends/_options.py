"""Backend compile options: what each backend lets a user choose beyond its name.

A backend declares `options: dict[str, BackendOption]` as plain data on its class (the app
draws its dropdowns from it without importing torch or an SDK). What a user passes, nested
`{"coreml": {"compute_unit": "CPU_ONLY"}}` or flat `{"coreml.compute_unit": "CPU_ONLY"}`,
strings or native values, is checked here before anything is lowered and normalized to a
sorted tuple of `(backend, key, canonical value)` strings holding only the values that differ
from the defaults. That form is picklable (workers), hashable, and what the cache key holds:
an empty tuple is today's default lowering, so default keys and programs are unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

AUTO = "auto"  # shown for a default of None: the scheme (or the library) decides
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

NormalizedOptions = tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class BackendOption:
    """One option of one backend: a closed set of `choices` (strings), or a `type` (bool, int).

    `default` is what a lowering uses when the option is not given: a choice, a value of
    `type`, or None ("auto") when the scheme decides, as it did before options existed. Only
    values that differ from the default reach the partitioner factories as changes, so the
    default lowering stays byte-identical to the plain executorch call.
    """

    name: str
    default: Any
    choices: tuple[str, ...] = ()
    type: type | None = None
    doc: str = ""

    def parse(self, value: Any, backend: str = "") -> Any:
        """The native value of `value` (a string, a native value or an enum member); a
        `UsageError` naming the backend, the key and the valid values when it is none."""
        if isinstance(value, enum.Enum):
            value = value.name
        if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
            if self.default is None:
                return None
            raise self._bad(value, backend)
        if self.choices:
            text = str(value).strip()
            for choice in self.choices:
                if choice.lower() == text.lower():
                    return choice
            raise self._bad(value, backend)
        if self.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise self._bad(value, backend)
        if self.type is int:
            try:
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                return int(value)
            except (TypeError, ValueError):
                raise self._bad(value, backend) from None
        return value if self.type is None else self.type(value)

    def text(self, value: Any) -> str:
        """The canonical spelling of a native value: what keys, reports and the CLI show."""
        if value is None:
            return AUTO
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def valid(self) -> str:
        """The valid values, as error messages and `etwb backends --options` list them."""
        auto = f", {AUTO}" if self.default is None else ""
        if self.choices:
            return ", ".join(self.choices) + auto
        if self.type is bool:
            return "true, false" + auto
        return f"any {getattr(self.type, '__name__', 'value')}" + auto

    def widget_choices(self) -> list[tuple[str, Any]]:
        """(label, value) pairs for a dropdown, the default first and marked; "auto" stands for
        a None default (a dropdown cannot select None)."""
        auto: list[Any] = [AUTO] if self.default is None else []
        if self.choices:
            values: list[Any] = auto + list(self.choices)
        elif self.type is bool:
            values = auto + [False, True]
        else:
            values = [self.default]
        values.sort(key=lambda v: v != self.widget_default)
        return [
            (self.text(v) + (" (default)" if v == self.widget_default else ""), v) for v in values
        ]

    @property
    def widget_default(self) -> Any:
        """The default as a dropdown holds it ("auto" for None)."""
        return AUTO if self.default is None else self.default

    def _bad(self, value: Any, backend: str) -> UsageError:
        where = f"{backend}.{self.name}" if backend else self.name
        return UsageError(f"{where}: {value!r} is not a valid value; valid: {self.valid()}")


def normalize(
    options: Mapping[str, Any] | Iterable[Sequence[str]] | None,
    backends: Sequence[str] | str,
    get_backend: Callable[[str], Any],
) -> NormalizedOptions:
    """Check `options` against the chosen `backends` and return the sorted non-default
    `(backend, key, value)` strings (`backends.normalize_options`, which passes the registry's
    `get_backend`). Accepts the nested and the flat mapping and its own output (so every
    layer may call it). Raises `UsageError` for an unknown backend, a backend that is not
    chosen, an unknown key or a bad value."""
    if not options:
        return ()
    names = [backends] if isinstance(backends, str) else list(backends)
    chosen = {get_backend(name).name for name in names}
    given: dict[tuple[str, str], Any] = {}
    for backend_name, key, value in _triples(options):
        try:
            backend = get_backend(backend_name)
        except UsageError as exc:
            raise UsageError(f"backend option {backend_name}.{key}: {exc}") from None
        if backend.name not in chosen:
            raise UsageError(
                f"an option for {backend.name} ({backend.name}.{key}) was given but "
                f"{backend.name} is not among the chosen backends ({', '.join(sorted(chosen))})"
            )
        declared = backend.options
        option = declared.get(key)
        if option is None:
            known = ", ".join(declared) if declared else "none"
            raise UsageError(
                f"{backend.name} has no option {key!r}; its options: {known} "
                "(see `etwb backends --options`)"
            )
        text = option.text(option.parse(value, backend.name))
        previous = given.setdefault((backend.name, key), text)
        if previous != text:
            raise UsageError(f"{backend.name}.{key} given twice: {previous} and {text}")
    changed = []
    for (backend, key), text in given.items():
        option = get_backend(backend).options[key]
        if text != option.text(option.default):  # a default written out is no option at all
            changed.append((backend, key, text))
    return tuple(sorted(changed))


def _triples(options: Any) -> Iterable[tuple[str, str, Any]]:
    if not isinstance(options, Mapping):  # our own normalized tuple (or a list of triples)
        for entry in options:
            if not (isinstance(entry, Sequence) and len(entry) == 3):
                raise UsageError(
                    f"backend options must be a mapping such as {{'coreml': {{'compute_unit': "
                    f"'CPU_ONLY'}}}} or {{'coreml.compute_unit': 'CPU_ONLY'}}; got {entry!r}"
                )
            yield str(entry[0]), str(entry[1]), entry[2]
        return
    for name, value in options.items():
        name = str(name).strip()
        if isinstance(value, Mapping):  # nested: {"coreml": {"compute_unit": ...}}
            for key, inner in value.items():
                yield name, str(key).strip(), inner
            continue
        backend, dot, key = name.partition(".")
        if not dot or not key:
            raise UsageError(
                f"backend option {name!r} names no backend: write BACKEND.KEY, e.g. "
                "coreml.compute_unit, or nest it: {'coreml': {'compute_unit': ...}}"
            )
        yield backend.strip(), key.strip(), value


def parse_assignments(texts: Iterable[str]) -> dict[str, str]:
    """CLI `--option BACKEND.KEY=VALUE` strings -> the flat mapping `normalize` takes."""
    flat: dict[str, str] = {}
    for text in texts:
        name, eq, value = text.partition("=")
        if not eq or "." not in name or not value.strip():
            raise UsageError(
                f"--option {text!r}: write BACKEND.KEY=VALUE, e.g. "
                "coreml.compute_unit=CPU_ONLY (see `etwb backends --options`)"
            )
        if flat.setdefault(name.strip(), value.strip()) != value.strip():
            raise UsageError(
                f"--option {name.strip()} given twice: {flat[name.strip()]} and {value}"
            )
    return flat


def of_backend(options: NormalizedOptions, backend: str) -> dict[str, str]:
    """One backend's non-default options from the normalized form, key -> canonical value."""
    return {key: value for name, key, value in options if name == backend}


def group_partitioners(group: Sequence[Any], scheme: str, options: Any = ()) -> list[Any]:
    """Every backend's partitioners in order, each built with its own options."""
    return [
        partitioner
        for backend in group
        for partitioner in backend.partitioners(scheme, of_backend(options, backend.name))
    ]


def for_program(options: NormalizedOptions, group: Sequence[Any], scheme: str) -> NormalizedOptions:
    """The options of one program's backends, checked against its scheme (`check_options`:
    a `UsageError` before anything is lowered)."""
    names = [backend.name for backend in group]
    for backend in group:
        backend.check_options(scheme, backend.resolve_options(of_backend(options, backend.name)))
    return tuple(entry for entry in options if entry[0] in names)


def describe(options: NormalizedOptions, backends: Sequence[str] | None = None) -> tuple[str, ...]:
    """`("coreml.compute_unit=CPU_ONLY", ...)` for the given backends (all when None)."""
    return tuple(
        f"{name}.{key}={value}"
        for name, key, value in options
        if backends is None or name in backends
    )


def option_rows(backend: Any) -> list[dict[str, Any]]:
    """The `etwb backends --options --json` rows of one backend."""
    return [
        {
            "backend": backend.name,
            "option": option.name,
            "default": option.text(option.default),
            "values": option.valid(),
            "doc": option.doc,
        }
        for option in backend.options.values()
    ]
