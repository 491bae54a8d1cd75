"""Declared types, read from the program's own provider SDKs (any provider, not only pulumi-gcp).

The real engine asks a provider plugin for its schema; offline there is no plugin, but every generated
Python SDK carries the same declarations: `pulumi-plugin.json` names the package, `__init__.py` maps each
resource token to its module and class, a resource class declares its outputs as typed `@pulumi.getter`
properties (its `...Args` class the inputs), `outputs.py` the nested output types, a function module its
`...Result` type, and `config/vars.py` the environment variables the provider reads its config from.

The files are read as text, never imported (importing pulumi-gcp into preflight's process would be both
slow and the wrong version): generated code is regular enough for a few patterns, and a property whose
type cannot be read is treated as `Any`.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

_GETTER = re.compile(
    r'@pulumi\.getter(?:\(\s*name\s*=\s*"(?P<wire>[^"]+)"\s*\))?\s*\n'
    r"\s*def (?P<py>\w+)\(self\)\s*->\s*(?P<type>[^\n]+?):\s*\n"
    r'(?:\s*r?"""(?P<doc>.*?)""")?',
    re.S,
)
_CLASS = re.compile(r"^class (\w+)\b[^\n]*:", re.M)
_TOP_LEVEL = re.compile(r"^(?:class |def |@)", re.M)
_REGISTRY = re.compile(r'resource_modules\s*=\s*"""(.*?)"""', re.S)
_CONFIG_KEY = re.compile(r"__config__\.get\w*\('([^']+)'\)")
_CONFIG_GETTER = re.compile(
    r"def (\w+)\(self\)[^\n]*:\s*\n\s*return __config__\.get\w*\('([^']+)'\)"
    r"(?:\s+or\s+_utilities\.get_env\w*\(([^)]*)\))?"
)


@dataclass(frozen=True)
class TypeRef:
    """A declared type: `kind` is str, int, float, bool, any, list, map or object."""

    kind: str
    optional: bool = False
    item: TypeRef | None = None
    ref: str = ""  # object types: e.g. `outputs.ClusterMasterAuth`
    base: Path | None = None  # the module directory `ref` is relative to


@dataclass(frozen=True)
class Prop:
    wire: str  # the engine's (camelCase) name
    python: str
    type: TypeRef
    doc: str = ""


@dataclass
class Declaration:
    """A resource's outputs and inputs, or an object type's fields (then `inputs` is empty)."""

    props: dict[str, Prop]
    inputs: dict[str, Prop] = field(default_factory=dict)


def snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name).lower()


@lru_cache(maxsize=256)
def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


@lru_cache(maxsize=256)
def _classes(path: Path) -> dict[str, tuple[int, int]]:
    """Every top-level class of a file: name → (start, end) offsets of its body."""
    text = _read(path)
    starts = [m.start() for m in _TOP_LEVEL.finditer(text)] + [len(text)]
    regions: dict[str, tuple[int, int]] = {}
    for match in _CLASS.finditer(text):
        end = next((s for s in starts if s > match.start()), len(text))
        regions.setdefault(match.group(1), (match.end(), end))
    return regions


def _type(annotation: str, base: Path) -> TypeRef:
    try:
        node = ast.parse(annotation.strip(), mode="eval").body
    except SyntaxError:
        return TypeRef("any", optional=True)
    return _node_type(node, base)


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


_SCALARS = {"str": "str", "int": "int", "float": "float", "bool": "bool", "Any": "any", "object": "any"}


def _node_type(node: ast.expr, base: Path) -> TypeRef:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
        if "[" in text:
            return _type(text, base)
        return TypeRef("object", ref=text, base=base)
    if isinstance(node, ast.Subscript):
        outer = _dotted(node.value).rsplit(".", 1)[-1]
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if outer in ("Output", "Input", "Awaitable"):
            return _node_type(args[0], base)
        if outer == "Optional":
            inner = _node_type(args[0], base)
            return TypeRef(inner.kind, True, inner.item, inner.ref, inner.base)
        if outer in ("Sequence", "List", "list"):
            return TypeRef("list", item=_node_type(args[0], base))
        if outer in ("Mapping", "Dict", "dict"):
            return TypeRef("map", item=_node_type(args[-1], base))
        if outer == "Union":
            return _node_type(args[0], base)
        return TypeRef("any")
    name = _dotted(node).rsplit(".", 1)[-1]
    if name in _SCALARS:
        return TypeRef(_SCALARS[name])
    if name == "None":
        return TypeRef("any", optional=True)
    return TypeRef("str") if name.endswith("Enum") else TypeRef("any")


def _props(path: Path, class_name: str, base: Path) -> dict[str, Prop] | None:
    region = _classes(path).get(class_name)
    if region is None:
        return None
    body = _read(path)[region[0] : region[1]]
    props: dict[str, Prop] = {}
    for match in _GETTER.finditer(body):
        python = match.group("py")
        wire = match.group("wire") or python
        props[wire] = Prop(wire, python, _type(match.group("type"), base), (match.group("doc") or "").strip())
    return props


class Sdks:
    """The provider SDKs one interpreter sees (its sys.path), looked up by package and token."""

    def __init__(self, search_path: Iterable[Path]) -> None:
        self._roots: dict[str, Path] = {}
        self._dirs = [p for p in search_path if p.is_dir()]
        for directory in self._dirs:
            for manifest in sorted(directory.glob("pulumi_*/pulumi-plugin.json")):
                try:
                    name = json.loads(manifest.read_text(encoding="utf-8")).get("name")
                except (OSError, ValueError):
                    continue
                if isinstance(name, str):
                    self._roots.setdefault(name, manifest.parent)
        self._cache: dict[str, Declaration | None] = {}
        self._registries: dict[str, dict[str, tuple[str, str]]] = {}

    def root(self, package: str) -> Path | None:
        """The SDK's package directory, e.g. `.../site-packages/pulumi_gcp` for `gcp`."""
        if package not in self._roots:
            guess = "pulumi_" + package.replace("-", "_")
            found = next((d / guess for d in self._dirs if (d / guess / "__init__.py").is_file()), None)
            if found is None:
                return None
            self._roots[package] = found
        return self._roots[package]

    def _registry(self, package: str) -> dict[str, tuple[str, str]]:
        root = self.root(package)
        match = _REGISTRY.search(_read(root / "__init__.py")) if root else None
        entries: dict[str, tuple[str, str]] = {}
        try:
            modules = json.loads(match.group(1)) if match else []
        except ValueError:
            modules = []
        for module in modules:
            for token, class_name in (module.get("classes") or {}).items():
                entries[token] = (module.get("fqn", ""), class_name)
        return entries

    def _module_dir(self, package: str, fqn: str) -> Path | None:
        root = self.root(package)
        if root is None:
            return None
        return root.joinpath(*fqn.split(".")[1:])

    def _class_file(self, directory: Path, class_name: str, token: str) -> Path | None:
        guess = directory / f"{snake(class_name)}.py"
        if class_name in _classes(guess):
            return guess
        for candidate in sorted(directory.glob("*.py")):
            if class_name in _classes(candidate) and token in _read(candidate):
                return candidate
        return None

    def resource(self, token: str) -> Declaration | None:
        """A resource type's output properties and input names; None when its SDK is not installed."""
        if token in self._cache:
            return self._cache[token]
        declaration = None
        package = token.split(":", 1)[0]
        fqn, class_name = self._registry_entry(package, token)
        directory = self._module_dir(package, fqn) if fqn else None
        path = self._class_file(directory, class_name, token) if directory else None
        if path is not None and directory is not None:
            outputs = _props(path, class_name, directory) or {}
            inputs = _props(path, f"{class_name}Args", directory) or {}
            declaration = Declaration(outputs, inputs)
        self._cache[token] = declaration
        return declaration

    def _registry_entry(self, package: str, token: str) -> tuple[str, str]:
        if package not in self._registries:
            self._registries[package] = self._registry(package)
        return self._registries[package].get(token, ("", ""))

    def function(self, token: str) -> Declaration | None:
        """A provider function's declared result type."""
        if token in self._cache:
            return self._cache[token]
        declaration = None
        parts = token.split(":")
        root = self.root(parts[0]) if len(parts) == 3 else None
        if root is not None:
            module = parts[1].split("/", 1)[0]
            directory = root if module == "index" else root.joinpath(*module.split("/"))
            path = directory / f"{snake(parts[2])}.py"
            if f"'{token}'" not in _read(path) and f'"{token}"' not in _read(path):
                path = next((p for p in sorted(directory.glob("*.py")) if f"'{token}'" in _read(p)), path)
            result = next(
                (name for name in _classes(path) if name.endswith("Result") and "Awaitable" not in name), None
            )
            if result is not None:
                declaration = Declaration(_props(path, result, directory) or {})
        self._cache[token] = declaration
        return declaration

    def object(self, ref: TypeRef) -> Declaration | None:
        """The fields of a nested output type."""
        if ref.base is None or not ref.ref:
            return None
        key = f"{ref.base}:{ref.ref}"
        if key not in self._cache:
            parts = ref.ref.split(".")
            if parts[0] == "outputs" or len(parts) == 1:
                path, base = ref.base / "outputs.py", ref.base
            else:
                # e.g. `_meta.v1.outputs.ObjectMeta` from another module of the same package
                root = self._package_of(ref.base)
                base = root.joinpath(*(p.lstrip("_") for p in parts[:-2])) if root else ref.base
                path = base / f"{parts[-2]}.py"
            props = _props(path, parts[-1], base)
            self._cache[key] = Declaration(props) if props is not None else None
        return self._cache[key]

    def _package_of(self, directory: Path) -> Path | None:
        return next((root for root in self._roots.values() if directory.is_relative_to(root)), None)

    def _config_vars(self, package: str) -> str:
        """The provider SDK's `config/vars.py`, where its config keys and their environment variables are."""
        root = self.root(package)
        return _read(root / "config" / "vars.py") if root else ""

    def config_keys(self, package: str) -> set[str] | None:
        """Every config key the provider's SDK declares (`config/vars.py`); None when it has no such file."""
        text = self._config_vars(package)
        if not text:
            return None
        return set(_CONFIG_KEY.findall(text))

    def config_env(self, package: str) -> dict[str, tuple[str, ...]]:
        """Provider config key → the environment variables the provider falls back to, in order."""
        text = self._config_vars(package)
        found: dict[str, tuple[str, ...]] = {}
        for match in _CONFIG_GETTER.finditer(text):
            names = tuple(re.findall(r"'([A-Z0-9_]+)'", match.group(3) or ""))
            if names:
                found[match.group(2)] = names
        return found


def undeclared_keys(config: Mapping[str, str], project: str, sdks: Sdks) -> list[str]:
    """Warnings for `<provider>:<key>` config the program's provider SDK does not declare (`--set gcp:projct=x`).

    Such a key configures nothing: the provider reads only the keys its SDK lists in `config/vars.py`.
    Namespaces without an SDK there (the project's own, `pulumi:`) are not judged.
    """
    warnings = []
    for full_key in sorted(config):
        namespace, sep, key = full_key.partition(":")
        if not sep or namespace == project:
            continue
        declared = sdks.config_keys(namespace)
        if not declared or key in declared:
            continue
        close = difflib.get_close_matches(key, declared, n=1)
        hint = f"; did you mean {namespace}:{close[0]}?" if close else ""
        warnings.append(f"warning: {full_key}: the {namespace} provider's SDK declares no such config key{hint}")
    return warnings
