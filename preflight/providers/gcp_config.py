"""Provider configuration as the provider reads it: stack config first, then its environment variables.

`gcp:project` / `gcp:region` / `gcp:zone` come from the stack's config; unset, pulumi-gcp falls back to
GOOGLE_PROJECT, GOOGLE_CLOUD_PROJECT, GCLOUD_PROJECT, CLOUDSDK_CORE_PROJECT (and the REGION/ZONE
equivalents). The variable names are read from the program's own SDK (`config/vars.py`), so another
provider version or another provider works the same way. The report says where each value came from.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from secure_invoke.preflight.outputs.formats import DEFAULT_PROJECT, DEFAULT_REGION
from secure_invoke.preflight.outputs.schema import Sdks

# pulumi-gcp's own list, for programs whose SDK could not be read.
_GCP_ENV = {
    "project": ("GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
    "region": ("GOOGLE_REGION", "GCLOUD_REGION", "CLOUDSDK_COMPUTE_REGION"),
    "zone": ("GOOGLE_ZONE", "GCLOUD_ZONE", "CLOUDSDK_COMPUTE_ZONE"),
}
_ASSUMED = {"project": DEFAULT_PROJECT, "region": DEFAULT_REGION, "zone": ""}


@dataclass(frozen=True)
class Setting:
    value: str
    source: str  # "stack config", "GOOGLE_PROJECT", or "" when preflight assumed it


@dataclass(frozen=True)
class GcpSettings:
    project: Setting
    region: Setting
    zone: Setting

    def notes(self) -> list[str]:
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
