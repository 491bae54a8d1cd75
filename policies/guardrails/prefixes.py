"""Resource-scope conditions whose `resource.name.startsWith(...)` prefix ends mid-name.

`resource.name.startsWith("projects/_/buckets/app")` confines a project grant to bucket `app`, and also to
`app-backups`, `apple`, ...: every resource whose name starts with it. Three cases:

- the prefix also matches another resource this stack declares (`app-backups` next to `app`): the grant
  reaches both, so it is no single-resource grant (`overreach`), and the rules that judge a grant by its scope
  (`no-high-scope-privileged-roles`, `no-resource-admin-for-workloads`) judge it as unconfined, naming what
  else it matches;
- the prefix ends in a region's name (`gcf-v2-sources-<number>-europe-west1`, which also matches
  `…-europe-west10`): conditions.py already reads it as confining nothing, and the same rules say why
  (`overreach`);
- otherwise it is accepted as resource scope and this advisory rule notes it, except where the prefix is the
  full name of a resource this stack declares (and matches no other one).

The exact form for a bucket and its objects, `resource.name == "<bucket>" ||
resource.name.startsWith("<bucket>/objects/")`, ends at a path boundary and is never noted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Final

from . import conditions, iam
from .context import RuleContext
from .iam import Grant
from .power import RolePower
from .role_power import power_of
from .stack import StackModel
from .values import get_str, is_unknown, last_segment

__all__ = [
    "DECLARED_COLLECTIONS",
    "declared_by_collection",
    "exact_fix",
    "overreach",
    "people_own",
    "resource_prefix_bounded",
]

# pulumi-gcp type -> (the collection segment its resources have in `resource.name`, properties holding its name).
DECLARED_COLLECTIONS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "gcp:storage/bucket:Bucket": ("buckets", ("name",)),
    "gcp:secretmanager/secret:Secret": ("secrets", ("secretId", "name")),
    "gcp:cloudrunv2/service:Service": ("services", ("name",)),
    "gcp:cloudrun/service:Service": ("services", ("name",)),
    "gcp:cloudrunv2/job:Job": ("jobs", ("name",)),
    "gcp:cloudrunv2/workerPool:WorkerPool": ("workerPools", ("name",)),
    "gcp:cloudfunctionsv2/function:Function": ("functions", ("name",)),
    "gcp:cloudfunctions/function:Function": ("functions", ("name",)),
    "gcp:artifactregistry/repository:Repository": ("repositories", ("repositoryId", "name")),
    "gcp:pubsub/topic:Topic": ("topics", ("name",)),
    "gcp:pubsub/subscription:Subscription": ("subscriptions", ("name",)),
    "gcp:bigquery/dataset:Dataset": ("datasets", ("datasetId",)),
    "gcp:bigquery/table:Table": ("tables", ("tableId",)),
    "gcp:kms/keyRing:KeyRing": ("keyRings", ("name",)),
    "gcp:kms/cryptoKey:CryptoKey": ("cryptoKeys", ("name",)),
    "gcp:serviceaccount/account:Account": ("serviceAccounts", ("email",)),
    "gcp:cloudtasks/queue:Queue": ("queues", ("name",)),
    "gcp:workflows/workflow:Workflow": ("workflows", ("name",)),
}
# A gen2 function is also a Cloud Run service of the same name.
_ALSO: Final[Mapping[str, str]] = {"gcp:cloudfunctionsv2/function:Function": "services"}


def declared_by_collection(model: StackModel) -> Mapping[str, frozenset[str]]:
    """Short names of the resources the stack declares, by the collection they have in `resource.name`."""
    return model.judged("declared by collection", lambda: _declared(model))


def _declared(model: StackModel) -> Mapping[str, frozenset[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for resource in model.resources:
        known = DECLARED_COLLECTIONS.get(resource.type)
        if known is None:
            continue
        collection, keys = known
        for key in keys:
            name = last_segment(get_str(resource.props, key))
            if name:
                found[collection].add(name.lower() if collection == "serviceAccounts" else name)
                if resource.type in _ALSO:
                    found[_ALSO[resource.type]].add(name)
                break
    return {collection: frozenset(names) for collection, names in found.items()}


def _others(named: conditions.NamedResource, declared: Mapping[str, frozenset[str]]) -> list[str]:
    """Other resources of the stack a partial prefix also matches."""
    if not named.partial:
        return []
    return sorted(n for n in declared.get(named.collection, ()) if n != named.name and n.startswith(named.name))


def overreach(condition: object, declared: Mapping[str, frozenset[str]]) -> str | None:
    """Why a condition that names resources does not confine a grant to one of them (`resource.name.startsWith(…)
    also matches …`): a prefix that also matches other resources of the stack, or the same name in other
    regions; None when it confines (or names nothing)."""
    for named in conditions.regional_prefixes(condition):
        region = named.name.rsplit("-", 2)[-2:]
        return (
            f"resource.name.startsWith(\"{named.path}\") also matches '{named.name}0', '{named.name}2', …, the "
            f"same name in every region numbered on from {'-'.join(region)} (as europe-west10 follows europe-west1)"
        )
    for named in conditions.resource_scope(condition):
        others = _others(named, declared)
        if others:
            listed = ", ".join(f"'{n}'" for n in others[:3]) + (", …" if len(others) > 3 else "")
            return (
                f'resource.name.startsWith("{named.path}") also matches {listed} of this stack (and every other '
                f"resource of that kind ({named.collection}) whose name starts with '{named.name}')"
            )
    return None


def exact_fix(condition: object) -> str:
    """How to name one resource exactly, for the first prefix of a condition that ends mid-name."""
    named = next(iter(conditions.regional_prefixes(condition)), None) or next(
        (n for n in conditions.resource_scope(condition) if n.partial), None
    )
    return _fix(named) if named is not None else 'name each resource exactly (resource.name == "…")'


def _fix(named: conditions.NamedResource) -> str:
    if named.collection == "buckets":
        return (
            f'name the bucket exactly: resource.name == "{named.path}" || '
            f'resource.name.startsWith("{named.path}/objects/") (the bucket and its objects)'
        )
    return f'end the prefix with \'/\' ("{named.path}/") or use an exact name (resource.name == "{named.path}")'


def people_own(grant: Grant, power: RolePower, named: list[conditions.NamedResource]) -> bool:
    """Grants human-access-expires judges as on one resource (a person's invoke or impersonation power): a
    prefix that overreaches is noted for them here, not judged as unconfined (that rule cannot see the stack)."""
    member = iam.known(grant.member)
    if member is None or not iam.is_human(member):
        return False
    on_accounts = bool(named) and all(n.collection == "serviceAccounts" for n in named)
    return bool(power.escalation or power.invoke or (on_accounts and power.sets_service_account_iam))


def resource_prefix_bounded(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    names = model.declared_names
    declared = declared_by_collection(model)
    out: list[tuple[str, str]] = []
    for entry in model.grants:
        if entry.scope == "resource":
            continue  # a prefix inside one resource's own policy stays inside that resource
        urn, name = entry.resource.urn, entry.resource.name
        label = f"'{name}'" if isinstance(name, str) else urn
        for grant in entry.grants:
            if grant.condition_unknown or not isinstance(grant.role, str) or is_unknown(grant.role):
                continue
            power = power_of(grant.role, model.custom_roles)
            if power is not None and power.harmless:
                continue
            scope = conditions.resource_scope(grant.condition)
            for named in scope:
                others = _others(named, declared)
                if not named.partial or (named.name in names and not others):
                    continue
                if others and (power is None or not people_own(grant, power, scope)):
                    continue  # judged as unconfined by the rules that judge scope (overreach)
                also = (
                    f"; it already matches {', '.join(repr(o) for o in others[:3])} of this stack"
                    if others
                    else ", and nothing in this stack is named exactly that"
                )
                out.append(
                    (
                        urn,
                        f"{grant.where}: the condition of {grant.role} on {label} confines it with "
                        f'resource.name.startsWith("{named.path}"), a prefix that ends mid-name: it also matches '
                        f"every other resource of that kind ({named.collection}) whose name starts with "
                        f"'{named.name}'{also}; {_fix(named)}.",
                    )
                )
                break
    return out
