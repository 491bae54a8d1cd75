"""pulumi-docker-build images: the digest and reference a build would give, derived from the build's inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from secure_invoke.preflight.outputs.formats import Subject, digest
from secure_invoke.preflight.providers.tokens import Registry

Outputs = tuple[str, dict[str, Any], dict[str, Any]]  # (id, known, computed), as in `gcp`
_Fn = Callable[[dict[str, Any], Subject], Outputs]
_BY_TYPE: Registry[_Fn] = Registry()


@_BY_TYPE.of("docker-build:index:Image")
def _image(inputs: dict[str, Any], subject: Subject) -> Outputs:
    tags = inputs.get("tags") or []
    tag = tags[0] if tags and isinstance(tags[0], str) else f"{subject.name}:latest"
    sha = "sha256:" + digest("image", json.dumps(inputs, sort_keys=True, default=str))
    return sha, {}, {"digest": sha, "ref": f"{tag}@{sha}"}


def outputs(type_: str, inputs: dict[str, Any], subject: Subject) -> Outputs | None:
    """(id, known, computed) of a resource of a type listed here; None for other types."""
    fn = _BY_TYPE.get(type_)
    return fn(inputs, subject) if fn is not None else None
