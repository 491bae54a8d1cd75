"""Google Cloud provider configuration as pulumi-gcp reads it: stack config first, then its environment variables.

`gcp:project` / `gcp:region` / `gcp:zone` come from the stack's config; unset, pulumi-gcp falls back to
GOOGLE_PROJECT, GOOGLE_CLOUD_PROJECT, GCLOUD_PROJECT, CLOUDSDK_CORE_PROJECT (and the REGION/ZONE
equivalents). The variable names are read from the program's own SDK (`config/vars.py`), so another
provider version works the same way. The report says where each value came from. A resource's own project,
region, location or zone inputs win over them, as the provider resolves them (`locate`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from secure_invoke.preflight.outputs.formats import DEFAULT_PROJECT, DEFAULT_REGION
from secure_invoke.preflight.outputs.schema import Sdks
from secure_invoke.preflight.outputs.wire import UNKNOWN

# pulumi-gcp's own list, for programs whose SDK could not be read.
_GCP_ENV = {
    "project": ("GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
    "region": ("GOOGLE_REGION", "GCLOUD_REGION", "CLOUDSDK_COMPUTE_REGION"),
    "zone": ("GOOGLE_ZONE", "GCLOUD_ZONE", "CLOUDSDK_COMPUTE_ZONE"),
}
_ASSUMED = {"project": DEFAULT_PROJECT, "region": DEFAULT_REGION, "zone": ""}
_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")


def _known(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value != UNKNOWN else None


@dataclass(frozen=True)
class Setting:
    value: str
    source: str  # "stack config", "GOOGLE_PROJECT", or "" when preflight assumed it


@dataclass(frozen=True)
class GcpSettings:
    project: Setting
    region: Setting
    zone: Setting

    def locate(self, inputs: dict[str, Any], provider: dict[str, Any]) -> tuple[str, str, str]:
        """(project, region, zone) of a resource or invoke, as the provider resolves them."""
        project = _known(inputs.get("project")) or _known(provider.get("project")) or self.project.value
        region = _known(provider.get("region")) or self.region.value
        zone = _known(inputs.get("zone")) or _known(provider.get("zone")) or self.zone.value
        for key in ("region", "location"):
            value = _known(inputs.get(key)) or ""
            if _REGION.match(value):
                region = value
            elif zone_match := _ZONE.match(value):
                region, zone = zone_match.group(1), value
        return project, region, zone

    def notes(self, types: Iterable[str]) -> list[str]:
        """Where project, region and zone came from, for a run with a Google Cloud resource or provider (of `types`)."""
        if not any(t.startswith("gcp:") or t == "pulumi:providers:gcp" for t in types):
            return []
        lines = []
        for key in ("project", "region", "zone"):
            setting: Setting = getattr(self, key)
            if setting.source:
                lines.append(f"gcp:{key} = {setting.value} (from {setting.source})")
            elif setting.value:
                lines.append(f"gcp:{key} not set (stack config or its environment variables): assumed {setting.value}")
        return lines


def gcp_settings(config: Mapping[str, str], environ: Mapping[str, str], sdks: Sdks | None) -> GcpSettings:
    env_names = (sdks.config_env("gcp") if sdks is not None else {}) or _GCP_ENV
    found: dict[str, Setting] = {}
    for key in ("project", "region", "zone"):
        value = config.get(f"gcp:{key}")
        if value:
            found[key] = Setting(value, "stack config")
            continue
        names = env_names.get(key) or _GCP_ENV[key]
        variable = next((name for name in names if environ.get(name)), None)
        if variable is not None:
            found[key] = Setting(environ[variable], variable)
        else:
            found[key] = Setting(_ASSUMED[key], "")
    return GcpSettings(found["project"], found["region"], found["zone"])
