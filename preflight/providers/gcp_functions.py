"""Google Cloud provider functions (invokes) whose answers follow from their arguments and the project.

The rest of a function's declared result type is filled in by the generic shapes; these are the values a
program (or a policy) actually relies on: project numbers, the client's project and region, an IAM policy
document built from its bindings, and Google's default and per-service identities.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from secure_invoke.preflight.outputs.formats import Subject, default_compute_account, digest, project_number
from secure_invoke.preflight.providers.tokens import Registry

_Fn = Callable[[dict[str, Any], Subject], dict[str, Any]]
_BY_TOKEN: Registry[_Fn] = Registry()


@_BY_TOKEN.of("gcp:organizations/getProject:getProject")
def _get_project(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    project_id = args.get("projectId") or subject.project
    return {
        "projectId": project_id,
        "number": project_number(project_id),
        "name": project_id,
        "id": f"projects/{project_id}",
        "orgId": "",
        "labels": {},
    }


@_BY_TOKEN.of("gcp:projects/getProject:getProject")
def _list_projects(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    # The filter cannot be evaluated offline: the one project the provider is configured for matches.
    return {"id": digest("filter", args.get("filter"), length=16), "projects": [{"projectId": subject.project}]}


@_BY_TOKEN.of("gcp:organizations/getClientConfig:getClientConfig")
def _client_config(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    return {
        "project": subject.project,
        "region": subject.region,
        "zone": subject.zone or f"{subject.region}-a",
        "accessToken": "",
        "id": f"projects/{subject.project}/regions/{subject.region}/zones/{subject.zone or subject.region + '-a'}",
    }


@_BY_TOKEN.of("gcp:organizations/getIAMPolicy:getIAMPolicy")
def _iam_policy(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
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


def _account(email: str, project: str, display_name: str) -> dict[str, Any]:
    return {
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": f"projects/{project}/serviceAccounts/{email}",
        "id": f"projects/{project}/serviceAccounts/{email}",
        "uniqueId": str(100000000000000000000 + int(digest("uid", email), 16) % 10**20),
        "displayName": display_name,
        "project": project,
    }


@_BY_TOKEN.of("gcp:compute/getDefaultServiceAccount:getDefaultServiceAccount")
def _compute_default(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    project = args.get("project") or subject.project
    return _account(default_compute_account(project), project, "Compute Engine default service account")


@_BY_TOKEN.of("gcp:appengine/getDefaultServiceAccount:getDefaultServiceAccount")
def _appengine_default(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    project = args.get("project") or subject.project
    return _account(f"{project}@appspot.gserviceaccount.com", project, "App Engine default service account")


@_BY_TOKEN.of("gcp:storage/getProjectServiceAccount:getProjectServiceAccount")
def _storage_agent(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    project = args.get("project") or subject.project
    email = f"service-{project_number(project)}@gs-project-accounts.iam.gserviceaccount.com"
    return {"emailAddress": email, "member": f"serviceAccount:{email}", "project": project, "id": email}


@_BY_TOKEN.of("gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount")
def _bigquery_agent(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    project = args.get("project") or subject.project
    email = f"bq-{project_number(project)}@bigquery-encryption.iam.gserviceaccount.com"
    return {"email": email, "member": f"serviceAccount:{email}", "project": project, "id": email}


@_BY_TOKEN.of("gcp:serviceaccount/getAccount:getAccount")
def _get_account(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    account = str(args.get("accountId") or subject.name)
    project = args.get("project") or subject.project
    email = account if "@" in account else f"{account}@{project}.iam.gserviceaccount.com"
    return {**_account(email, project, account.split("@", 1)[0]), "accountId": account.split("@", 1)[0]}


@_BY_TOKEN.of("gcp:compute/getZones:getZones")
def _zones(args: dict[str, Any], subject: Subject) -> dict[str, Any]:
    region = args.get("region") or subject.region
    return {"names": [f"{region}-a", f"{region}-b", f"{region}-c"], "region": region, "project": subject.project}


def answer(token: str, args: dict[str, Any], subject: Subject) -> dict[str, Any] | None:
    """The computed part of a known function's result; None for functions not listed here."""
    fn = _BY_TOKEN.get(token)
    return fn(args, subject) if fn is not None else None
