"""Which property a provider autonames during Check, and how — a reviewed rule with a table of exceptions.

The SDK does not say which property is autonamed, so this mirrors the providers:
- Terraform-bridged providers (gcp, aws, ...) call the bridge's `SetAutonaming(255, "-")`: every resource
  whose inputs have a string `name` the program left unset gets `<logical name>-<7 hex>`.
  Except IAM member/binding/policy resources, whose `name` identifies the resource they grant on.
- pulumi-kubernetes autonames `metadata.name` as `<logical name>-<8 hex>`.
- Providers that name nothing (random, tls, std, command, docker-build) are left alone.
Some names must be lowercase (Cloud Storage buckets); the table says so.
"""

from __future__ import annotations

from typing import Any

from secure_invoke.preflight.outputs.formats import digest
from secure_invoke.preflight.outputs.schema import Declaration

_NO_AUTONAMING = {"random", "tls", "std", "command", "docker-build", "docker", "pulumi", "synced-folder"}
_LOWERCASE = {"gcp:storage/bucket:Bucket"}  # pulumi-gcp lowercases bucket autonames
_IAM_SUFFIXES = ("iammember", "iambinding", "iampolicy")


def _suffix(project: str, name: str, length: int) -> str:
    return digest("autoname", project, name, length=length)


def autoname(
    token: str, name: str, inputs: dict[str, Any], declaration: Declaration | None, project: str
) -> dict[str, Any]:
    """The inputs the provider's Check adds (empty when it adds none): the engine records them as inputs."""
    package = token.split(":", 1)[0]
    if package in _NO_AUTONAMING or declaration is None:
        return {}
    if package == "kubernetes":
        metadata = inputs.get("metadata")
        if "metadata" not in declaration.inputs or (isinstance(metadata, dict) and metadata.get("name")):
            return {}
        generated = f"{name}-{_suffix(project, name, 8)}".lower()
        return {"metadata": {**(metadata if isinstance(metadata, dict) else {}), "name": generated}}
    if token.rsplit(":", 1)[-1].lower().endswith(_IAM_SUFFIXES):
        return {}
    prop = declaration.inputs.get("name")
    if prop is None or prop.type.kind != "str" or inputs.get("name") is not None:
        return {}
    generated = f"{name}-{_suffix(project, name, 7)}"
    return {"name": generated.lower() if token in _LOWERCASE else generated}
