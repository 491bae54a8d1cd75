"""Where a permission is checked: a resource's full name as IAM sees it (`projects/p/topics/t`), its project, its
service and type — and whether a grant's scope covers it (the same resource, a parent, or its project)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from secure_invoke.preflight.deployer.additions import IAM_TARGETS, NAMES
from secure_invoke.preflight.deployer.data import provider_methods
from secure_invoke.preflight.outputs.wire import UNKNOWN

_VAR = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}|\{([A-Za-z0-9_]+)\}")
_SA_NAME = re.compile(r"^projects/([^/]+)/serviceAccounts/(.+)$")
_SA_EMAIL = re.compile(r"^[^@/\s]+@([a-z][a-z0-9-]+)\.iam\.gserviceaccount\.com$")


@dataclass(frozen=True)
class Target:
    """What a permission is checked on: `name` as IAM conditions see it, in `project`, of `service`."""

    name: str
    project: str
    service: str = ""
    kind: str = ""  # IAM's resource.type, e.g. storage.googleapis.com/Bucket

    def describe(self) -> str:
        if self.name == f"projects/{self.project}":
            return f"project {self.project}"
        return self.name

    def covered_by(self, scope: str) -> bool:
        """A grant on `scope` applies here: on this resource, a parent of it, or its project (or above)."""
        if scope in ("*", self.name) or self.name.startswith(scope.rstrip("/") + "/"):
            return True
        if scope == f"projects/{self.project}":
            return True
        # Folders and organizations hold every project below them; which ones is not known offline.
        return scope.startswith(("folders/", "organizations/"))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value or value == UNKNOWN:
        return None
    return value


def service_account_name(value: str, default_project: str) -> str:
    """An account given as email, `serviceAccount:email` or `projects/p/serviceAccounts/email`, as its full name."""
    text = value.removeprefix("serviceAccount:")
    match = _SA_NAME.match(text)
    if match:
        project, email = match.groups()
        if project == "-":
            own = _SA_EMAIL.match(email)
            project = own.group(1) if own else default_project
        return f"projects/{project}/serviceAccounts/{email}"
    own = _SA_EMAIL.match(text)
    return f"projects/{own.group(1) if own else default_project}/serviceAccounts/{text}"


def fill(template: str, values: Mapping[str, Any], project: str, region: str) -> str | None:
    """The template with each `{{var}}`/`{var}` replaced by that property (camelCase) of the resource; a value
    that is already a full path replaces everything before it. None if a value is missing or unknown."""
    out = template
    for match in list(_VAR.finditer(template)):
        key = camel(match.group(1) or match.group(2))
        raw = values.get(key)
        value = _text(raw)
        if value is None and key == "project":
            value = project
        if value is None and key in ("location", "region"):
            value = region
        if value is None:
            return None
        if "/" in value and value.startswith(("projects/", "organizations/", "folders/")):
            # A reference given as a full name (`{{key_ring}}` = projects/.../keyRings/r): it is the prefix.
            prefix_end = out.find(match.group(0))
            out = value + out[prefix_end + len(match.group(0)) :]
            continue
        out = out.replace(match.group(0), value, 1)
    return out


def kind_of(token: str, service: str) -> str:
    kind = token.rsplit(":", 1)[-1]
    for suffix in ("IamMember", "IAMMember", "IamBinding", "IAMBinding", "IamPolicy", "IAMPolicy", "IAMAuditConfig"):
        kind = kind.removesuffix(suffix)
    return f"{service}/{kind}" if service else kind


def project_of(name: str, values: Mapping[str, Any], provider_project: str) -> str:
    project = _text(values.get("project"))
    if project:
        return project
    match = re.match(r"^projects/([^/_][^/]*)/", name + "/")
    return match.group(1) if match else provider_project


def resource_target(type_: str, values: Mapping[str, Any], project: str, region: str) -> Target | None:
    """The resource itself (inputs and outputs merged in `values`); None if its name cannot be built."""
    entry = provider_methods().get(type_, {})
    template = NAMES.get(type_) or entry.get("name")
    service = entry.get("service", "")
    if entry.get("target"):
        return None
    if not template:
        # A handwritten type without a name format: its id when that is a full name (`projects/p/zones/z/
        # instances/i`, as most are), which is where IAM checks it.
        resource_id = _text(values.get("id"))
        if resource_id is None or not resource_id.startswith("projects/"):
            return None
        return Target(resource_id, project_of(resource_id, values, project), service, kind_of(type_, service))
    if type_ == "gcp:serviceaccount/account:Account" and _text(values.get("email")):
        name = service_account_name(str(values["email"]), _text(values.get("project")) or project)
    else:
        name = fill(template, values, project, region)
    if name is None:
        return None
    return Target(name, project_of(name, values, project), service, kind_of(type_, service))


def iam_target(token: str, values: Mapping[str, Any], project: str, region: str) -> Target | None:
    """The resource whose IAM policy an IAM resource (member, binding, policy, audit config) changes."""
    entry = provider_methods().get(token, {})
    service = entry.get("service", "")
    for prefix, template in IAM_TARGETS.items():
        if token.startswith(prefix):
            name = fill(template, values, project, region)
            if name is None:
                return None
            if prefix == "gcp:serviceaccount/iAM":
                name = service_account_name(name, project)
            return Target(name, project_of(name, values, project), service, kind_of(token, service))
    attribute = entry.get("target")
    template = entry.get("name")
    if not attribute or not template:
        return None
    value = _text(values.get(attribute))
    if value is None:
        return None
    last = list(_VAR.finditer(template))[-1]
    merged = dict(values)
    merged[camel(last.group(1) or last.group(2))] = value
    name = fill(template, merged, project, region)
    if name is None:
        return None
    return Target(name, project_of(name, values, project), service, kind_of(token, service))


def project_target(project: str, service: str = "cloudresourcemanager.googleapis.com") -> Target:
    return Target(f"projects/{project}", project, service, "cloudresourcemanager.googleapis.com/Project")


def parent_of(target: Target) -> Target:
    """Where a resource is created: its parent resource (a key ring for a key, a bucket for an object), else its
    project. Locations and regions are not IAM resources: a grant on the project is what counts there."""
    segments = target.name.split("/")
    if target.name.startswith("projects/_/buckets/") and "/objects/" in target.name:
        return Target("/".join(segments[:4]), target.project, target.service, "storage.googleapis.com/Bucket")
    parent = segments[:-2]
    while len(parent) >= 2 and parent[-2] in ("locations", "regions", "zones", "global"):
        parent = parent[:-2]
    if len(parent) > 2 and parent[0] == "projects":
        return Target("/".join(parent), target.project, target.service, "")
    return project_target(target.project, target.service)
