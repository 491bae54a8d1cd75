"""Outputs of the shape the provider would give them, built from the SDK's declared types.

The rule, per output property of a registered resource (known-outputs mode):
- given as an input: echoed as given (the provider echoes its inputs);
- output-only (not an input of the resource): a value of its declared type, in the provider's format;
- an input left unset whose output type is not Optional (the provider computes one): its documented
  default when the docs state one, what the provider fills in (`Unset`, from `providers/`: e.g. Google's
  default service account for an unset workload identity), else a value of its declared type;
- an input left unset whose output type is Optional: absent, as the provider returns null.
Objects built this way get every scalar field and their non-Optional nested objects and lists; a
computed list gets one element, so `statuses[0].url` or `ip_addresses[0].ip_address` work.
With `--preview`, what the provider computes is unknown; inputs, autonames and documented defaults stay known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from secure_invoke.preflight.outputs import formats
from secure_invoke.preflight.outputs.formats import Subject
from secure_invoke.preflight.outputs.schema import Declaration, Prop, Sdks, TypeRef
from secure_invoke.preflight.outputs.wire import UNKNOWN, unknown_like

_MAX_DEPTH = 5

Unset = Callable[[str, Subject], Any]
"""What a provider puts in a property the program left unset, by the property's name: a value, or None."""


def _nothing(name: str, subject: Subject) -> Any:
    return None


def _documented(prop: Prop) -> Any:
    stated = formats.documented_default(prop.doc)
    if stated is None:
        return None
    kind = prop.type.kind
    if kind == "bool" and stated.lower() in ("true", "false"):
        return stated.lower() == "true"
    if kind == "int" and stated.lstrip("-").isdigit():
        return int(stated)
    if kind == "float":
        try:
            return float(stated)
        except ValueError:
            return None
    return stated if kind == "str" else None


class Shapes:
    """Values of declared types for one program's SDKs."""

    def __init__(self, sdks: Sdks, unset_field: Unset = _nothing, unset_input: Unset = _nothing) -> None:
        """`unset_field`: by a field's python name, at any depth; `unset_input`: by a top-level input's wire
        name, before its documented default."""
        self.sdks = sdks
        self.unset_field = unset_field
        self.unset_input = unset_input

    def value(self, type_: TypeRef, python: str, doc: str, subject: Subject, depth: int = 0, full: bool = False) -> Any:
        """A plausible value of `type_` for a property called `python`; None for `Any`. `full`: Optional
        nested objects and lists too (all of an output-only value is the provider's)."""
        kind = type_.kind
        if kind == "str":
            return formats.string_value(subject, python, doc)
        if kind == "bool":
            return False
        if kind == "int":
            return 443 if "port" in python else 1
        if kind == "float":
            return 1.0
        if kind == "map":
            return {}
        if kind == "list":
            if (type_.optional and not full) or type_.item is None or depth >= _MAX_DEPTH:
                return []
            item = self.value(type_.item, python, doc, subject, depth + 1, full)
            return [] if item is None else [item]
        if kind == "object":
            return self.object(type_, subject, depth + 1, full)
        return None

    def object(self, type_: TypeRef, subject: Subject, depth: int, full: bool = False) -> dict[str, Any] | None:
        declaration = self.sdks.object(type_) if depth < _MAX_DEPTH else None
        if declaration is None:
            return {}
        result: dict[str, Any] = {}
        for prop in declaration.props.values():
            if prop.type.optional and prop.type.kind in ("object", "list", "map") and not full:
                continue
            value = self._field(prop, subject, depth, full)
            if value is not None:
                result[prop.wire] = value
        return result

    def _field(self, prop: Prop, subject: Subject, depth: int, full: bool = False) -> Any:
        documented = _documented(prop)
        if documented is not None:
            return documented
        provided = self.unset_field(prop.python, subject)
        if provided is not None:
            return provided
        return self.value(prop.type, prop.python, prop.doc, subject, depth, full)

    def resource_outputs(
        self, declaration: Declaration | None, outputs: dict[str, Any], subject: Subject, preview: bool
    ) -> dict[str, Any]:
        """`outputs` (echoed inputs plus what the provider module computed) completed per the module rule."""
        if declaration is None:
            return outputs
        for wire, prop in declaration.props.items():
            if wire in outputs:
                if wire in declaration.inputs:
                    outputs[wire] = self._complete(outputs[wire], prop.type, subject, 0, preview)
                continue
            if wire == "id":
                continue
            if wire in declaration.inputs:
                if prop.type.optional:
                    continue
                configured = self.unset_input(wire, subject)
                if configured is not None:
                    outputs[wire] = configured
                    continue
                documented = _documented(prop)
                if documented is not None:
                    outputs[wire] = documented
                    continue
            # All of an output-only value is the provider's; of an unset input, only what it must return.
            value = self._field(prop, subject, 0, full=wire not in declaration.inputs)
            if value is not None:
                outputs[wire] = unknown_like(value) if preview else value
        return outputs

    def _complete(self, given: Any, type_: TypeRef, subject: Subject, depth: int, preview: bool) -> Any:
        """An input block as the provider returns it: what was given, plus the members its docs mark
        `(Output)` (computed inside a block the program wrote, e.g. a connection's service account)."""
        if depth >= _MAX_DEPTH:
            return given
        if isinstance(given, list) and type_.kind == "list" and type_.item is not None:
            return [self._complete(item, type_.item, subject, depth + 1, preview) for item in given]
        if not isinstance(given, dict) or type_.kind != "object":
            return given
        declaration = self.sdks.object(type_)
        if declaration is None:
            return given
        completed = dict(given)
        for prop in declaration.props.values():
            if prop.wire in completed:
                completed[prop.wire] = self._complete(completed[prop.wire], prop.type, subject, depth + 1, preview)
            elif prop.doc.startswith("(Output)"):
                value = self._field(prop, subject, depth + 1, full=True)
                if value is not None:
                    completed[prop.wire] = unknown_like(value) if preview else value
        return completed

    def function_result(
        self, declaration: Declaration | None, args: dict[str, Any], subject: Subject
    ) -> dict[str, Any]:
        """A function's declared result: arguments echoed, the rest of its declared type."""
        if declaration is None:
            return dict(args)
        result: dict[str, Any] = {}
        for wire, prop in declaration.props.items():
            if wire in args:
                result[wire] = args[wire]
                continue
            value = (
                self._field(prop, subject, 0) if not prop.type.optional or prop.type.kind not in ("object",) else None
            )
            if value is not None:
                result[wire] = value
        return result


__all__ = ["UNKNOWN", "Shapes"]
