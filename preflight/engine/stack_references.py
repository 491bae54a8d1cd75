"""Other stacks' outputs for `pulumi.StackReference`, from `--stack-reference NAME=FILE.json`.

FILE.json is what `pulumi stack output --json` prints (an object of outputs) or a preflight `--json`
result (its `outputs` are used). A reference without a file is not an error: its outputs are unknown, as
in a preview of a stack that does not exist yet, and the report says which reference was assumed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from secure_invoke.preflight.engine.project import ConfigError
from secure_invoke.preflight.outputs.wire import UNKNOWN

STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


def parse(specs: Iterable[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """NAME → outputs; ConfigError naming the flag and file when one cannot be used."""
    found: dict[str, dict[str, Any]] = {}
    for name, file in specs:
        path = Path(file)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"--stack-reference {name}={file}: cannot read {path}: {err.strerror}") from err
        except ValueError as err:
            raise ConfigError(f"--stack-reference {name}={file}: {path.name} is not JSON ({err})") from err
        if isinstance(document, dict) and {"project", "stack", "outputs"} <= set(document):
            document = document["outputs"]
        if not isinstance(document, dict):
            raise ConfigError(f"--stack-reference {name}={file}: expected a JSON object of stack outputs")
        found[name] = document
    return found


class StackReferences:
    def __init__(self, supplied: dict[str, dict[str, Any]]) -> None:
        self.supplied = supplied
        self.assumed: list[str] = []

    def _lookup(self, name: str) -> dict[str, Any] | None:
        if name in self.supplied:
            return self.supplied[name]
        # `org/project/stack` given as `project/stack` or `stack`, or the other way round.
        for key, outputs in self.supplied.items():
            if name.endswith("/" + key) or key.endswith("/" + name):
                return outputs
        return None

    def read(self, name: str) -> tuple[dict[str, Any], bool]:
        """The StackReference resource's state (`name`, `outputs`, `secretOutputNames`), and whether the
        outputs were supplied."""
        outputs = self._lookup(name)
        if outputs is None:
            self.assumed.append(name)
            return {"name": name, "outputs": UNKNOWN, "secretOutputNames": UNKNOWN}, False
        return {"name": name, "outputs": outputs, "secretOutputNames": []}, True

    def notes(self) -> list[str]:
        return [
            f"StackReference '{name}' not supplied (--stack-reference {name}=FILE.json): its outputs are unknown"
            for name in self.assumed
        ]
