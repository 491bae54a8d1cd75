"""What the providers would answer, offline: Check's autonames, Create's outputs, Invoke's results.

One place decides, per resource or function: the provider's own computations where preflight knows them
(`providers/`: Google Cloud, pulumi-random, pulumi-std, pulumi-docker-build), then the declared type read
from the program's SDK (`outputs/shapes`) for everything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secure_invoke.preflight.engine.provenance import handed_strings
from secure_invoke.preflight.outputs import shapes
from secure_invoke.preflight.outputs.formats import Subject, digest
from secure_invoke.preflight.outputs.schema import Sdks
from secure_invoke.preflight.outputs.wire import UNKNOWN, unknown_like
from secure_invoke.preflight.providers import autoname, docker_build, gcp, gcp_functions, random, std
from secure_invoke.preflight.providers.gcp_config import GcpSettings


def _known(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value != UNKNOWN else None


class OfflineProvider:
    """Every provider of one program run, as preflight stands in for them."""

    def __init__(self, sdks: Sdks, settings: GcpSettings, preview: bool, program_dir: Path) -> None:
        self.sdks = sdks
        self.shapes = shapes.Shapes(sdks, gcp.unset_identity, gcp.unset_configured)
        self.settings = settings
        self.preview = preview
        self.program_dir = program_dir
        # Strings provider functions handed the program (value -> token), for provenance: a value the program
        # passes on came from a function, not from its own text. Appended from the monitor's threads.
        self.handed: dict[str, str] = {}
        self.handed_long: list[tuple[str, str]] = []

    def subject(self, token: str, name: str, inputs: dict[str, Any], provider: dict[str, Any]) -> Subject:
        """The resource as formats see it; project and location as the provider resolves them."""
        project, region, zone = self.settings.locate(inputs, provider)
        physical = _known(inputs.get("name"))
        metadata = inputs.get("metadata")
        if physical is None and isinstance(metadata, dict):
            physical = _known(metadata.get("name"))
        return Subject(token, physical or name, project, region, zone)

    def check(self, token: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Inputs the provider's Check adds: autonames (known in a preview too)."""
        return autoname.autoname(token, name, inputs, self.sdks.resource(token), self.settings.project.value)

    def create(
        self, token: str, name: str, wire_inputs: dict[str, Any], inputs: dict[str, Any], provider: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """(id, wire outputs) of a custom resource; in a preview the id and computed outputs are unknown."""
        subject = self.subject(token, name, inputs, provider)
        known: dict[str, Any] = {}
        drawn = random.outputs(token, inputs, subject) if subject.package == "random" else None
        if drawn is not None:
            resource_id, computed = drawn
        else:
            resource_id, known, computed = (
                gcp.outputs(token, inputs, subject)
                or docker_build.outputs(token, inputs, subject)
                or (f"{subject.name}-{digest('id', subject.project, subject.name, length=8)}", {}, {})
            )
        outputs = dict(wire_inputs)
        outputs.update(known)
        for key, value in computed.items():
            value = unknown_like(value) if self.preview else value
            if isinstance(value, dict) and isinstance(outputs.get(key), dict):
                # Nested blocks keep their inputs; the provider only adds its computed members.
                outputs[key] = {**outputs[key], **value}
            else:
                outputs[key] = value
        outputs = self.shapes.resource_outputs(self.sdks.resource(token), outputs, subject, self.preview)
        return ("" if self.preview else resource_id), outputs

    def component_outputs(
        self, token: str, name: str, wire_inputs: dict[str, Any], inputs: dict[str, Any]
    ) -> dict[str, Any]:
        """A multi-language component's outputs, from the types its SDK declares."""
        subject = self.subject(token, name, inputs, {})
        return self.shapes.resource_outputs(self.sdks.resource(token), dict(wire_inputs), subject, self.preview)

    def invoke(self, token: str, args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
        """A function's result: computed where the provider's logic is known, else its declared type."""
        name = _known(args.get("name")) or _known(args.get("accountId")) or token.rsplit(":", 1)[-1]
        subject = self.subject(token, name, args, provider)
        computed = gcp_functions.answer(token, args, subject)
        if computed is None:
            computed = std.answer(token, args, self.program_dir)
        result = self.shapes.function_result(self.sdks.function(token), args, subject)
        result.update(computed or {})
        for value in handed_strings(token, result):
            if value not in self.handed:
                self.handed[value] = token
                if len(value) >= 12:
                    self.handed_long.append((value, token))
        return result
