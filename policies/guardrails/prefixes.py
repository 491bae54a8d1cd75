"""Resource-scope conditions whose `resource.name.startsWith(...)` prefix ends mid-name.

`resource.name.startsWith("projects/_/buckets/app")` confines a project grant to bucket `app`, and also to
`app-backups`, `apple`, ...: every resource whose name starts with it. The pack accepts such a grant as
resource scope (it names a resource), and this advisory rule notes it, except where the prefix is the full
name of a resource this stack declares, or a documented Google-managed naming idiom (`GOOGLE_MANAGED_NAMES`:
the bucket a gen2 function's build reads its source from is `gcf-v2-sources-<project number>-<region>`, and
must be readable before it exists).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from . import conditions
from .context import RuleContext
from .role_power import power_of
from .stack import StackModel
from .values import is_unknown

__all__ = ["GOOGLE_MANAGED_NAMES", "resource_prefix_bounded"]

# collection -> names Google creates for you (documented idioms), matched whole.
GOOGLE_MANAGED_NAMES: Final[Mapping[str, re.Pattern[str]]] = {
    "buckets": re.compile(r"gcf-v2-sources-\d+-[a-z]+-[a-z]+\d+|gcf-sources-\d+-[a-z]+-[a-z]+\d+"),
}


def _known(collection: str, name: str, declared: frozenset[str]) -> bool:
    idiom = GOOGLE_MANAGED_NAMES.get(collection)
    return name in declared or (idiom is not None and idiom.fullmatch(name) is not None)


def _fix(named: conditions.NamedResource) -> str:
    if named.collection == "buckets":
        return (
            f'name the bucket exactly: resource.name == "{named.path}" || '
            f'resource.name.startsWith("{named.path}/objects/") (the bucket and its objects)'
        )
    return f'end the prefix with \'/\' ("{named.path}/") or use an exact name (resource.name == "{named.path}")'


def resource_prefix_bounded(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    declared = model.declared_names
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
            for named in conditions.resource_scope(grant.condition):
                if not named.partial or _known(named.collection, named.name, declared):
                    continue
                out.append(
                    (
                        urn,
                        f"{grant.where}: the condition of {grant.role} on {label} confines it with "
                        f'resource.name.startsWith("{named.path}"), a prefix that ends mid-name: it also matches '
                        f"every other resource of that kind ({named.collection}) whose name starts with "
                        f"'{named.name}', and nothing in this stack is named exactly that; {_fix(named)}.",
                    )
                )
                break
    return out
