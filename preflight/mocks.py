"""Realistic computed outputs for GCP resources and answers to invokes, offline.

The values follow the formats Google returns (emails, resource names, run.app URLs) so that stack
policies can correlate identities and grants exactly as they would after a real `pulumi up`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pulumi.runtime.rpc import UNKNOWN

DEFAULT_PROJECT = "preflight-project"
DEFAULT_REGION = "us-central1"

# Cloud Run's region codes in `*.a.run.app` hostnames.
_RUN_REGION_CODES = {
    "us-central1": "uc",
    "us-east1": "ue",
    "us-east4": "uk",
    "us-west1": "uw",
    "europe-west1": "ew",
    "europe-west2": "nw",
    "europe-west3": "ey",
    "europe-west4": "ez",
    "europe-north1": "lz",
    "asia-northeast1": "an",
    "asia-east1": "de",
    "australia-southeast1": "ts",
}

# Google-managed service agents whose domain is not simply gcp-sa-<service>.
_SERVICE_AGENT_DOMAINS = {
    "cloudfunctions": "gcf-admin-robot",
    "run": "serverless-robot-prod",
    "compute": "compute-system",
    "container": "container-engine-robot",
}


def digest(*parts: object, length: int = 64) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:length]


def project_number(project: str) -> str:
    return str(100000000000 + int(digest("number", project), 16) % 900000000000)


def run_region_code(region: str) -> str:
    return _RUN_REGION_CODES.get(region, "a")


class Context:
    """What a mock needs to know about the resource beyond its inputs."""

    def __init__(self, name: str, project: str, region: str, preview: bool) -> None:
        self.name = name
        self.project = project
        self.region = region
        self.preview = preview
        # Inputs the provider's Check would add (autonames): the engine analyzes and stores them as inputs.
        self.checked: dict[str, Any] = {}

    def autoname(self, inputs: dict[str, Any], key: str = "name", lower: bool = False) -> str:
        value = inputs.get(key)
        if isinstance(value, str) and value != UNKNOWN:
            return value
        # The provider autonames `<logical name>-<7 hex>` during Check, so it is known in previews too.
        generated = f"{self.name}-{digest('autoname', self.project, self.name, length=7)}"
        generated = generated.lower() if lower else generated
        self.checked[key] = generated
        return generated


Computed = dict[str, Any]
_MockFn = Callable[[dict[str, Any], Context], tuple[str, Computed, Computed]]
# Each mock returns (id, known_outputs, computed_outputs): known ones stay known in a preview
# (inputs, provider defaults, autonames); computed ones become unknown.

_MOCKS: dict[str, _MockFn] = {}


def _mock(*types: str) -> Callable[[_MockFn], _MockFn]:
    def register(fn: _MockFn) -> _MockFn:
        for type_ in types:
            _MOCKS[type_] = fn
        return fn

    return register


def _location(inputs: dict[str, Any], ctx: Context) -> str:
    value = inputs.get("location") or inputs.get("region")
    return value if isinstance(value, str) and value != UNKNOWN else ctx.region


@_mock("gcp:serviceaccount/account:Account")
def _service_account(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    account_id = inputs.get("accountId") or ctx.name
    email = f"{account_id}@{ctx.project}.iam.gserviceaccount.com"
    name = f"projects/{ctx.project}/serviceAccounts/{email}"
    return (
        name,
        {"project": ctx.project},
        {
            "email": email,
            "name": name,
            "member": f"serviceAccount:{email}",
            "uniqueId": str(100000000000000000000 + int(digest("uid", email), 16) % 10**20),
        },
    )


@_mock("gcp:cloudrunv2/service:Service")
def _run_service(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    name = ctx.autoname(inputs)
    location = _location(inputs, ctx)
    uri = f"https://{name}-{digest('run', ctx.project, length=10)}-{run_region_code(location)}.a.run.app"
    full = f"projects/{ctx.project}/locations/{location}/services/{name}"
    return (
        full,
        {"name": name, "location": location, "project": ctx.project},
        {
            "uri": uri,
            "urls": [uri, f"https://{name}-{project_number(ctx.project)}.{location}.run.app"],
            "uid": digest("uid", full, length=32),
            "etag": digest("etag", full, length=16),
        },
    )


@_mock("gcp:cloudfunctionsv2/function:Function")
def _function(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    name = ctx.autoname(inputs)
    location = _location(inputs, ctx)
    full = f"projects/{ctx.project}/locations/{location}/functions/{name}"
    service_config = {
        "uri": f"https://{name}-{digest('run', ctx.project, length=10)}-{run_region_code(location)}.a.run.app",
        "service": f"projects/{ctx.project}/locations/{location}/services/{name}",
    }
    return (
        full,
        {"name": name, "location": location, "project": ctx.project},
        {
            "url": f"https://{location}-{ctx.project}.cloudfunctions.net/{name}",
            "serviceConfig": service_config,
            "state": "ACTIVE",
            "environment": "GEN_2",
        },
    )


@_mock("gcp:pubsub/topic:Topic")
def _topic(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    name = ctx.autoname(inputs)
    return f"projects/{ctx.project}/topics/{name}", {"name": name, "project": ctx.project}, {}


@_mock("gcp:pubsub/subscription:Subscription")
def _subscription(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    name = ctx.autoname(inputs)
    return f"projects/{ctx.project}/subscriptions/{name}", {"name": name, "project": ctx.project}, {}


@_mock("gcp:storage/bucket:Bucket")
def _bucket(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    name = ctx.autoname(inputs, lower=True)
    return (
        name,
        {"name": name, "project": ctx.project},
        {"url": f"gs://{name}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}"},
    )


@_mock("gcp:storage/bucketObject:BucketObject")
def _bucket_object(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    name = ctx.autoname(inputs)
    bucket = inputs.get("bucket", "")
    return (
        f"{bucket}-{name}",
        {"name": name},
        {
            "md5hash": digest("md5", bucket, name, length=24),
            "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{name}",
            "outputName": name,
        },
    )


@_mock("gcp:artifactregistry/repository:Repository")
def _repository(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    repository_id = inputs.get("repositoryId") or ctx.name
    location = _location(inputs, ctx)
    full = f"projects/{ctx.project}/locations/{location}/repositories/{repository_id}"
    return full, {"project": ctx.project, "location": location}, {"name": repository_id}


@_mock("gcp:secretmanager/secret:Secret")
def _secret(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    secret_id = inputs.get("secretId") or ctx.name
    return (
        f"projects/{ctx.project}/secrets/{secret_id}",
        {"project": ctx.project},
        {"name": f"projects/{project_number(ctx.project)}/secrets/{secret_id}"},
    )


@_mock("gcp:secretmanager/secretVersion:SecretVersion")
def _secret_version(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    secret = inputs.get("secret", "")
    name = f"{secret}/versions/1"
    return name, {}, {"name": name, "version": "1"}


def service_agent_email(service: str, project: str) -> str:
    prefix = service.split(".", 1)[0]
    domain = _SERVICE_AGENT_DOMAINS.get(prefix, f"gcp-sa-{prefix}")
    return f"service-{project_number(project)}@{domain}.iam.gserviceaccount.com"


@_mock("gcp:projects/serviceIdentity:ServiceIdentity")
def _service_identity(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    service = str(inputs.get("service") or "")
    email = service_agent_email(service, ctx.project)
    return (
        f"projects/{ctx.project}/services/{service}",
        {"project": ctx.project},
        {"email": email, "member": f"serviceAccount:{email}"},
    )


@_mock("docker-build:index:Image")
def _image(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    tags = inputs.get("tags") or []
    tag = tags[0] if tags and isinstance(tags[0], str) else f"{ctx.name}:latest"
    sha = "sha256:" + digest("image", json.dumps(inputs, sort_keys=True, default=str))
    return sha, {}, {"digest": sha, "ref": f"{tag}@{sha}"}


def _generic(inputs: dict[str, Any], ctx: Context) -> tuple[str, Computed, Computed]:
    computed: Computed = {}
    if "etag" not in inputs:
        computed["etag"] = digest("etag", ctx.name, length=16)
    return f"{ctx.name}-{digest('id', ctx.project, ctx.name, length=8)}", {}, computed


def new_resource(
    type_: str, wire_inputs: dict[str, Any], inputs: dict[str, Any], ctx: Context
) -> tuple[str, dict[str, Any]]:
    """(id, outputs) for a custom resource; in a preview computed outputs and the id are unknown.

    `inputs` are plain values (secrets unwrapped) to compute from; `wire_inputs` keep the engine's
    secret markers and are what the outputs echo.
    """
    fn = _MOCKS.get(type_, _generic)
    id_, known, computed = fn(inputs, ctx)
    outputs = dict(wire_inputs)
    outputs.update(known)
    for key, value in computed.items():
        value = _unknown_like(value) if ctx.preview else value
        if isinstance(value, dict) and isinstance(outputs.get(key), dict):
            # Nested blocks keep their inputs; the provider only adds its computed members.
            merged = dict(outputs[key])
            merged.update(value)
            outputs[key] = merged
        else:
            outputs[key] = value
    return ("" if ctx.preview else id_), outputs


def _unknown_like(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: UNKNOWN for k in value}
    return UNKNOWN


def call(function: str, args: dict[str, Any], project: str, region: str) -> dict[str, Any]:
    """Answers to provider functions (invokes)."""
    if function == "gcp:organizations/getProject:getProject":
        project_id = args.get("projectId") or project
        return {
            "projectId": project_id,
            "number": project_number(project_id),
            "name": project_id,
            "id": f"projects/{project_id}",
            "orgId": "",
            "labels": {},
        }
    if function == "gcp:organizations/getClientConfig:getClientConfig":
        return {
            "project": project,
            "region": region,
            "zone": f"{region}-a",
            "accessToken": "",
            "id": f"projects/{project}/regions/{region}",
        }
    if function == "gcp:organizations/getIAMPolicy:getIAMPolicy":
        bindings = []
        for binding in args.get("bindings") or []:
            entry: dict[str, Any] = {"role": binding.get("role"), "members": sorted(binding.get("members") or [])}
            if binding.get("condition"):
                entry["condition"] = binding["condition"]
            bindings.append(entry)
        policy: dict[str, Any] = {"bindings": bindings}
        if args.get("auditConfigs"):
            policy["auditConfigs"] = args["auditConfigs"]
        policy_data = json.dumps(policy, sort_keys=True, separators=(",", ":"))
        return {"policyData": policy_data, "id": digest("policy", policy_data, length=16), **args}
    if function == "gcp:projects/getProjectService:getProjectService" or function.startswith("gcp:"):
        return {"id": digest("invoke", function, length=16), "project": project, **args}
    return dict(args)
