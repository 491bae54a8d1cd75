"""Callers whose token audience their service refuses: a Cloud Scheduler job, a Pub/Sub push subscription, a Cloud
Tasks queue or a workflow of the stack that sends a Google-signed OIDC token to a Cloud Run service of the stack
must mint it for an audience that service accepts, or every call is refused with 401 (and a push subscription's
messages go to its dead-letter topic, or expire).

What a service accepts: Cloud Run's front end takes the service's URL (a path after it too) or one of its custom
audiences (`customAudiences`); a service that checks the audience itself (`INVOKER_AUDIENCE` in its environment,
as PrivateService's CallerEnv writes it and the worker reads it) takes exactly that value, so the URL, which
Cloud Run would let through, is refused there. The audience a caller sends is its configured one, or, when none
is set, Google's default: the URL it calls (scheduler `httpTarget.uri`, push `pushConfig.pushEndpoint`, the
queue's `httpTarget.uriOverride`, the workflow step's `url`).

A caller is matched to a service by the host of the URL it calls (the service's planned `uri`). A value not known
yet (preview) is judged once known; a workflow source the pack cannot parse is not judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from .context import RuleContext
from .stack import StackModel, StackResource
from .values import get, get_list, get_str, is_unknown
from .workloads import RUN_V2_SERVICE, env_vars

__all__ = ["AUDIENCE_VARIABLES", "caller_audiences_accepted", "judge_audiences"]

# The environment variables through which a service says the one audience it accepts (PrivateService's CallerEnv).
AUDIENCE_VARIABLES: Final = ("INVOKER_AUDIENCE",)
SCHEDULER_JOB: Final = "gcp:cloudscheduler/job:Job"
PUSH_SUBSCRIPTION: Final = "gcp:pubsub/subscription:Subscription"
TASKS_QUEUE: Final = "gcp:cloudtasks/queue:Queue"
WORKFLOW: Final = "gcp:workflows/workflow:Workflow"


@dataclass(frozen=True)
class _Service:
    name: str
    url: str
    custom: tuple[str, ...]
    checks: tuple[str, str] | None  # (variable, the audience it accepts) when the service checks it itself

    def refuses(self, audience: str) -> str | None:
        """Why the service refuses a token for `audience` (None: it accepts it)."""
        url = self.url.rstrip("/")
        front_end = audience in self.custom or audience.rstrip("/") == url or audience.startswith(url + "/")
        if self.checks is not None:
            variable, accepted = self.checks
            if audience == accepted:
                if not front_end:
                    return (
                        f"it is the audience '{self.name}' checks ({variable}) but not one Cloud Run accepts for "
                        "it (neither its URL nor a custom audience), so Cloud Run refuses it with 401 first"
                    )
                return None
            what = "Cloud Run would let it through, but " if front_end else ""
            return f"{what}'{self.name}' checks the audience itself ({variable}) and accepts only '{accepted}': 401"
        if not front_end:
            return (
                f"Cloud Run accepts only the URL of '{self.name}' or its custom audiences "
                f"({', '.join(self.custom) or 'none'}): 401"
            )
        return None

    @property
    def fix(self) -> str:
        return self.checks[1] if self.checks is not None else (self.custom[0] if self.custom else self.url)


@dataclass(frozen=True)
class _Call:
    urn: str
    what: str  # e.g. "scheduler job 'nightly'"
    url: str
    audience: str | None
    field: str  # where the audience is configured


def _services(resources: Iterable[StackResource]) -> dict[str, _Service]:
    """The stack's Cloud Run services whose URL is known, by host."""
    found: dict[str, _Service] = {}
    for resource in resources:
        if resource.type != RUN_V2_SERVICE:
            continue
        props = resource.props
        url = get_str(props, "uri")
        if not isinstance(url, str) or is_unknown(url) or "://" not in url:
            continue
        custom = get_list(props, "customAudiences")
        if not isinstance(custom, list | None) or any(is_unknown(a) for a in custom or []):
            continue  # not known yet
        checks = None
        for env in env_vars(RUN_V2_SERVICE, props):
            if env.name in AUDIENCE_VARIABLES and isinstance(env.value, str) and not is_unknown(env.value):
                checks = (env.name, env.value)
        name = get_str(props, "name")
        label = name if isinstance(name, str) and not is_unknown(name) else str(resource.name)
        host = urlsplit(url).hostname
        if host:
            found[host] = _Service(label, url, tuple(a for a in custom or [] if isinstance(a, str)), checks)
    return found


def _calls(resources: Iterable[StackResource]) -> Iterator[_Call]:
    for resource in resources:
        rtype, urn, props = resource.type, resource.urn, resource.props
        name = get_str(props, "name")
        label = name if isinstance(name, str) and not is_unknown(name) else str(resource.name)
        if rtype == SCHEDULER_JOB:
            yield from _oidc(urn, f"scheduler job '{label}'", props, "httpTarget", get(props, "httpTarget", "uri"))
        elif rtype == PUSH_SUBSCRIPTION:
            endpoint = get(props, "pushConfig", "pushEndpoint")
            yield from _oidc(urn, f"push subscription '{label}'", props, "pushConfig", endpoint)
        elif rtype == TASKS_QUEUE:
            override = get(props, "httpTarget", "uriOverride")
            host, path = get(override, "host"), get(override, "pathOverride", "path")
            if isinstance(host, str) and not is_unknown(host) and not is_unknown(path):
                scheme = str(get(override, "scheme") or "HTTPS").lower()
                url = f"{scheme}://{host}{path if isinstance(path, str) else ''}"
                yield from _oidc(urn, f"Cloud Tasks queue '{label}'", props, "httpTarget", url)
        elif rtype == WORKFLOW:
            yield from _workflow_calls(urn, f"workflow '{label}'", get(props, "sourceContents"))


def _oidc(urn: str, what: str, props: Mapping[str, Any], block: str, url: object) -> Iterator[_Call]:
    token = get(props, block, "oidcToken")
    if not isinstance(token, Mapping) or not isinstance(url, str) or is_unknown(url):
        return  # no OIDC token (or not known yet): nothing to judge
    audience = token.get("audience")
    if is_unknown(audience):
        return
    yield _Call(urn, what, url, audience or None, f"{block}.oidcToken.audience")


def _workflow_calls(urn: str, what: str, source: object) -> Iterator[_Call]:
    """Each http.* step with OIDC auth of a JSON workflow source (as PrivateService writes it)."""
    if not isinstance(source, str) or is_unknown(source):
        return
    try:
        document = json.loads(source)
    except ValueError:
        return  # YAML or a template: not read here
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            call, args = node.get("call"), node.get("args")
            if isinstance(call, str) and call.startswith("http.") and isinstance(args, dict):
                auth, url = args.get("auth"), args.get("url")
                if isinstance(auth, dict) and auth.get("type") == "OIDC" and isinstance(url, str):
                    audience = auth.get("audience")
                    yield _Call(urn, what, url, audience if isinstance(audience, str) else None, "auth.audience")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def judge_audiences(resources: Iterable[StackResource]) -> list[tuple[str, str]]:
    """(caller urn, message) for every caller of a stack's service that sends a token its service refuses."""
    resources = tuple(resources)
    services = _services(resources)
    out: list[tuple[str, str]] = []
    for call in _calls(resources):
        service = services.get(urlsplit(call.url).hostname or "")
        if service is None:
            continue  # a service outside the stack, or one whose URL is not known yet
        audience = call.audience if call.audience is not None else call.url
        why = service.refuses(audience)
        if why is None:
            continue
        sent = f"'{audience}'" if call.audience is not None else f"'{audience}' (none set: Google sends the URL)"
        out.append(
            (
                call.urn,
                f"{call.what} calls '{service.name}' with an OIDC token for the audience {sent}; {why}. Set "
                f"{call.field} to '{service.fix}'.",
            )
        )
    return out


def caller_audiences_accepted(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    """The pack's stack rule: callers whose token audience their service refuses."""
    return judge_audiences(model.resources)
