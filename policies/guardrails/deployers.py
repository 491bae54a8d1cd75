"""Who holds power in a stack, by what runs as them: workload identities (what runs or calls as an account:
workloads, callers, VMs, or an account another workload acts as), build identities (a Cloud Build trigger's or a
function build's account), CI accounts (borrowed by federated workloads, e.g. GitHub Actions), operator and
deployer accounts (created here, borrowed only by people or federated CI), accounts from outside, whole
customers. And who deploys what: Cloud Run's least-privilege deploy setup is a build or deploy identity with
a deploy role on the one service and `actAs` on that service's runtime account only (Google's "deployer
account"), which is deploy power, not a caller.

The builders rule: every build runs the repository's code (steps, build scripts, dependencies), so an
identity that builds or deploys must not hold IAM admin or impersonation power over a whole project, folder or
organization, directly or through an account it may act as. Those grants are this rule's finding, not
`no-high-scope-privileged-roles`': the message says which build runs with them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from . import conditions, iam, prefixes
from .context import RuleContext
from .iam import BASIC_ROLES, KEY_MINTING_ROLES, Grant, service_account_email
from .power import ESCALATION_PERMISSIONS, RolePower
from .role_power import CustomRoles, impersonation_power, power_of
from .stack import StackGrants, StackModel
from .values import get, is_unknown, type_module
from .workloads import BUILD_TRIGGER

__all__ = [
    "ACCEPTED_HOLDERS",
    "BUILDERS",
    "Holder",
    "Power",
    "build_identities_bounded",
    "builder_owns",
    "deploys",
    "holder",
    "power",
]

# Holders whose power the stack's own deploy and operator patterns give them on one resource.
ACCEPTED_HOLDERS: Final = frozenset({"ci", "deployer", "operator"})
# Holders whose code comes from a repository: what they can do, every build can do.
BUILDERS: Final = frozenset({"builder", "ci"})


@dataclass(frozen=True)
class Holder:
    """Who a member is, as far as power goes: `kind` is workload | builder | ci | deployer | operator | outside
    | unused | customer, `about` says it in a message ("the runtime identity of 'worker'")."""

    kind: str
    about: str


@dataclass(frozen=True)
class Power:
    """The stack's facts behind `holder` and `deploys`, built once per model."""

    runs: Mapping[str, tuple[str, str]]  # email -> (slot kind, resource name): runtimes, callers (not builds)
    builds: Mapping[str, str]  # email -> what builds as it ("trigger 'deploy'", "function 'relay'")
    machines: Mapping[str, str]  # email -> VM, template or node pool running as it
    borrowers: Mapping[str, tuple[str, ...]]  # email -> members that may act as it (or set its IAM)
    act_as: Mapping[str, frozenset[str]]  # normalized member -> emails it may act as, one account at a time
    runtimes: Mapping[str, frozenset[str]]  # resource urn -> the emails it runs as
    created: frozenset[str]


def power(model: StackModel) -> Power:
    return model.judged("power holders", lambda: _power(model))


def _account_grants(model: StackModel) -> Iterator[tuple[str, Grant, RolePower]]:
    """(account email, grant, power) of every grant on one service account: on the account itself, or a
    project grant whose condition names it."""
    for entry in model.grants:
        for grant in entry.grants:
            if not isinstance(grant.role, str) or is_unknown(grant.role) or grant.condition_unknown:
                continue
            granted = power_of(grant.role, model.custom_roles)
            if granted is None:
                continue
            for email in _accounts_of(entry, grant):
                yield email, grant, granted


def _accounts_of(entry: StackGrants, grant: Grant) -> list[str]:
    if type_module(entry.resource.type).startswith("serviceaccount/"):
        email = service_account_email(get(entry.resource.props, "serviceAccountId"))
        return [email] if email else []
    if entry.scope == "resource":
        return []
    return [n.name.lower() for n in conditions.resource_scope(grant.condition) if n.collection == "serviceAccounts"]


def _power(model: StackModel) -> Power:
    runs: dict[str, tuple[str, str]] = {}
    builds: dict[str, str] = {}
    runtimes: dict[str, set[str]] = defaultdict(set)
    for runs_as in model.runs_as:
        email, resource = runs_as.email, runs_as.resource
        if not email:
            continue
        name = resource.name or resource.urn
        if runs_as.slot.kind == "build":
            what = "trigger" if resource.type == BUILD_TRIGGER else "function"
            builds.setdefault(email, f"{what} '{name}'")
        else:
            runs.setdefault(email, (runs_as.slot.kind, name))
        if runs_as.slot.kind == "runtime":
            runtimes[resource.urn].add(email)
    machines = {m.email: m.resource.name or m.resource.urn for m in model.machines if m.email}
    borrowers: dict[str, list[str]] = defaultdict(list)
    act_as: dict[str, set[str]] = defaultdict(set)
    for email, grant, granted in _account_grants(model):
        member = iam.known(grant.member)
        if member is None:
            continue
        if impersonation_power(granted, on_service_account=True):
            borrowers[email].append(member)
        if "iam.serviceAccounts.actAs" in granted.escalation:
            act_as[iam.normalize_member(member) or member].add(email)
    return Power(
        runs=runs,
        builds=builds,
        machines=machines,
        borrowers={email: tuple(members) for email, members in borrowers.items()},
        act_as={member: frozenset(emails) for member, emails in act_as.items()},
        runtimes={urn: frozenset(emails) for urn, emails in runtimes.items()},
        created=model.created,
    )


def holder(member: str, facts: Power) -> Holder | None:
    """Who `member` is (None: people, Google's agents, default accounts, public, wildcard and convenience members,
    malformed ones: other rules judge those, or nothing runs as them)."""
    if iam.is_federated_workload(member):
        return Holder("ci", f"the federated workload {member}")
    if iam.is_whole_customer(member) and not iam.is_public(member):
        return Holder("customer", f"every identity of {member}")
    email = iam.service_account(member)
    if email is None or iam.is_default_account(email) or iam.is_service_agent(email):
        return None
    if email in facts.runs:
        kind, name = facts.runs[email]
        return Holder("workload", f"the {kind} identity of '{name}'")
    if email in facts.builds:
        return Holder("builder", f"the build identity of {facts.builds[email]}")
    if email in facts.machines:
        return Holder("workload", f"the identity of '{facts.machines[email]}'")
    borrowers = facts.borrowers.get(email, ())
    federated = [b for b in borrowers if iam.is_federated_workload(b)]
    if borrowers and all(iam.is_federated_workload(b) or iam.is_human(b) for b in borrowers):
        if federated:
            return Holder("ci", f"the CI account {email} (borrowed by {federated[0]})")
        kind = "operator" if email in facts.created else "deployer"
        return Holder(kind, f"the account {email} that people borrow")
    if borrowers:
        return Holder("workload", f"the account {email} that {borrowers[0]} acts as")
    if email in facts.created:
        return Holder("unused", f"{email} (created here, but nothing here runs as it or borrows it)")
    return Holder("outside", f"{email} (from outside this stack)")


def deploys(member: str, granted: RolePower, runtime_emails: frozenset[str], facts: Power) -> bool:
    """Is this grant deploy power: a role that redeploys the resource, held by a build or CI identity, or by one
    that may act as the resource's runtime account (Cloud Run's deployer account, e.g. one people borrow)? A
    workload's runtime that could redeploy another resource is not a deployer."""
    if not granted.redeploys:
        return False
    who = holder(member, facts)
    if who is None or who.kind in ("workload", "customer"):
        return False
    if who.kind in BUILDERS:
        return True
    # Anyone else (an account people borrow, one from outside) deploys when it may act as the runtime account:
    # without that, Cloud Run refuses its deploys and the role only lets it call the service.
    acts_as = facts.act_as.get(iam.normalize_member(member) or member, frozenset())
    return bool(runtime_emails) and runtime_emails <= acts_as


# --- the builders rule ----------------------------------------------------------------------------------------


def _identity_power(grant: Grant, granted: RolePower, custom: CustomRoles) -> str | None:
    """What a project/folder/organization grant gives a build identity beyond building: impersonation of every
    account, or IAM admin (unless a grantable-roles condition limits it to roles without such power)."""
    if granted.escalation:
        reasons = "; ".join(f"{p}: {ESCALATION_PERMISSIONS.get(p, p)}" for p in granted.escalation[:2])
        return f"can act as or mint credentials for every service account there ({reasons})"
    if granted.iam_admin:
        limited = conditions.grantable_roles(grant.condition)
        if limited is not None and not any(_unsafe(role, custom) for role in limited):
            return None
        admin = ", ".join(granted.iam_admin[:3])
        return f"can change IAM itself there ({admin}), granting anyone, itself included, any role"
    return None


def _unsafe(role: str, custom: CustomRoles) -> bool:
    if role in BASIC_ROLES:
        return True
    granted = power_of(role, custom)
    return granted is None or granted.identity_level or granted.service_agent


def builder_owns(member: str, granted: RolePower, facts: Power) -> bool:
    """Grants of a whole project/folder/organization that this rule judges instead of
    no-high-scope-privileged-roles: a build identity's impersonation or IAM-admin power."""
    who = holder(member, facts)
    return who is not None and who.kind in BUILDERS and bool(granted.escalation or granted.iam_admin)


_FIX: Final = (
    "run builds as a dedicated account that holds only what the build does (roles/artifactregistry.writer on its "
    "repository; to deploy, roles/run.developer on the one service and roles/iam.serviceAccountUser on that "
    "service's runtime account), and leave IAM and impersonation to the deployer's reviewed pipeline"
)


def build_identities_bounded(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    facts = power(model)
    custom = model.custom_roles
    declared = prefixes.declared_by_collection(model)
    admins: dict[str, str] = {}  # email of a non-build account -> what its high-scope grant gives it
    out: list[tuple[str, str]] = []
    for entry in model.grants:
        if entry.scope == "resource":
            continue
        label = f"'{entry.resource.name}'" if entry.resource.name else entry.resource.urn
        for grant, member, granted in _judged(entry, custom, declared):
            why = _identity_power(grant, granted, custom)
            if why is None:
                continue
            who = holder(member, facts)
            if who is None or who.kind not in BUILDERS:
                email = iam.service_account(member)
                if email is not None:
                    admins.setdefault(email, f"{grant.role} on the whole {entry.scope} ({label})")
                continue
            out.append(
                (
                    entry.resource.urn,
                    f"{grant.where}: {grant.role} granted to {member} on the whole {entry.scope} ({label}) {why}, "
                    f"and it is {who.about}: every build runs the repository's code with that power. "
                    f"Remove this grant; {_FIX}.",
                )
            )
    out.extend(_chains(model, facts, admins))
    return out


def _judged(
    entry: StackGrants, custom: CustomRoles, declared: Mapping[str, frozenset[str]]
) -> Iterator[tuple[Grant, str, RolePower]]:
    """The grants of a project/folder/organization entry the scope rules judge: known role and member, not a
    basic or key-minting role (their own rules), not confined to one resource."""
    for grant in entry.grants:
        role, member = grant.role, iam.known(grant.member)
        if not isinstance(role, str) or is_unknown(role) or member is None or grant.condition_unknown:
            continue
        if role in BASIC_ROLES or role in KEY_MINTING_ROLES:
            continue
        granted = power_of(role, custom)
        if granted is None or granted.service_agent:
            continue
        if conditions.resource_scope(grant.condition) and prefixes.overreach(grant.condition, declared) is None:
            continue
        yield grant, member, granted


def _chains(model: StackModel, facts: Power, admins: Mapping[str, str]) -> list[tuple[str, str]]:
    """A build identity that may act as an account holding project-wide impersonation or IAM admin: every build
    can become that account."""
    out: list[tuple[str, str]] = []
    for entry in model.grants:
        for grant in entry.grants:
            member = iam.known(grant.member)
            if member is None or not isinstance(grant.role, str) or grant.condition_unknown:
                continue
            granted = power_of(grant.role, model.custom_roles)
            if granted is None or not granted.escalation:
                continue  # (setting an account's IAM is a build identity's IAM power: no-resource-admin-for-workloads)
            who = holder(member, facts)
            if who is None or who.kind not in BUILDERS:
                continue
            for email in _accounts_of(entry, grant):
                target = holder(f"serviceAccount:{email}", facts)
                if email not in admins or (target is not None and target.kind in BUILDERS):
                    continue  # (a build identity's own grants are judged above)
                out.append(
                    (
                        entry.resource.urn,
                        f"{grant.where}: {grant.role} lets {member}, {who.about}, act as {email}, which holds "
                        f"{admins[email]}: every build can become that account and use its power. Remove this "
                        f"grant; {_FIX}.",
                    )
                )
                break
    return out
