"""Members from consumer email domains (gmail.com and the like): personal accounts outside the organization's
control, judged by a built-in list of such domains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import iam
from .context import RuleContext
from .iam import grants_of

__all__ = ["CONSUMER_DOMAINS", "consumer_domain", "consumer_domain_members"]

# Free webmail and consumer account providers: nobody's organization manages these accounts (no enforced 2-step
# verification, no offboarding, no Workspace or Cloud Identity policy). googlegroups.com is the consumer Google
# Groups domain (`group:<name>@googlegroups.com`): anyone may own one and add anyone to it.
CONSUMER_DOMAINS: Final = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "googlegroups.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "ymail.com",
        "rocketmail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "tutanota.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "hanmail.net",
        "fastmail.com",
    }
)


def consumer_domain(member: str, extra: frozenset[str] = frozenset()) -> str | None:
    """The consumer domain of a `user:`/`group:` member's email, or None."""
    if not member.startswith(("user:", "group:")):
        return None
    email = iam.email_of(member)
    if email is None:
        return None
    domain = email.rsplit("@", 1)[1]
    return domain if domain in CONSUMER_DOMAINS or domain in extra else None


def consumer_domain_members(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """A person or group of a consumer email domain holding any role. With allowedMemberDomains set (the same list
    as no-broad-principals'), a consumer domain on it is accepted, and one outside it is no-broad-principals'
    finding (one finding per root cause)."""
    allowed = {d.lower() for d in ctx.settings.allowed_member_domains}
    extra = frozenset(d.lower() for d in ctx.settings.extra_consumer_domains)
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        member = iam.known(grant.member)
        if member is None:
            continue
        domain = consumer_domain(member, extra)
        if domain is None or allowed:
            continue  # with a list: accepted when on it, no-broad-principals' finding when not
        role = grant.role if isinstance(grant.role, str) else "an unknown role"
        out.append(
            f"{grant.where}: {member} holds {role} on {ctx.label}, but {domain} is a consumer email domain: a "
            "personal account or group no organization manages (no enforced 2-step verification, no offboarding "
            "when a person leaves, anyone may be added). Grant the role to the person's account or a group in your "
            "Workspace or Cloud Identity domain instead."
        )
    return out
