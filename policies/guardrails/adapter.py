"""Wraps the pure rules into pulumi-policy policies: config, exemptions, unknown values.

The SDK hands rules proxies that raise UnknownValueError on reading an unknown value (even `in`), which
would turn every policy into an advisory "can't run" during preview. The adapter unwraps the proxies into
plain values (unknowns stay as the engine's sentinel strings), so rules check everything that is known.

A broken policy config stops the run (the analyzer call fails with the one-line ConfigError): reported as one
more violation, it would be advisory on an advisory policy and easy to miss on any. The analyzer protocol
carries only a schema's properties and required keys (no `additionalProperties`), so the pack itself rejects
keys a policy does not take.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import _DictProxy, _ListProxy
from pulumi_policy.secret import _DictSecretsProxy, _ListSecretsProxy

from . import clock
from .config import EXEMPTIONS_SCHEMA, EXTRA_SCHEMAS, ConfigError, PolicySettings, parse_settings
from .context import RuleContext
from .values import get, parse_json, stack_of_urn

ResourceRule = Callable[[str, Mapping[str, Any], RuleContext], list[str]]
StackRule = Callable[[Sequence[Mapping[str, Any]], RuleContext], list[tuple[str, str]]]


def to_plain(value: Any, _depth: int = 0) -> Any:
    """Proxies, secrets and nested containers -> plain dicts/lists; unknown sentinels kept as strings."""
    if _depth > 64:
        return None
    if isinstance(value, _DictProxy | _DictSecretsProxy | _ListProxy | _ListSecretsProxy):
        value = value["__target"]
    if isinstance(value, Secret):
        value = value.value
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v, _depth + 1) for v in value]
    return value


class _QuietConfigErrors(logging.Filter):
    """gRPC logs every exception a servicer raises with its traceback; a ConfigError is a one-line message the
    engine shows from the call's status, so its traceback is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        return not (info and isinstance(info[1], ConfigError))


logging.getLogger("grpc._server").addFilter(_QuietConfigErrors())


def _settings(name: str, config: object, keys: Sequence[str]) -> PolicySettings:
    """The policy's settings; a ConfigError (a one-line cause naming the policy and key) stops the run."""
    return parse_settings(name, config, keys)


def _schema(keys: Sequence[str]) -> PolicyConfigSchema:
    properties: dict[str, dict[str, Any]] = {"exemptions": EXEMPTIONS_SCHEMA}
    for key in keys:
        properties[key] = EXTRA_SCHEMAS[key]
    return PolicyConfigSchema(properties=properties)


def _context(
    settings: PolicySettings, urn: str = "", name: str = "", stack: str = "", default_labels: bool = False
) -> RuleContext:
    return RuleContext(
        urn=urn,
        name=name,
        stack=stack or stack_of_urn(urn) or os.environ.get("PULUMI_STACK", ""),
        allowed_member_domains=settings.allowed_member_domains,
        extra_allowed_roles=settings.extra_allowed_roles,
        production_stacks=settings.production_stacks,
        provider_default_labels=default_labels,
        allowed_invokers=settings.allowed_invokers,
        max_human_access_days=settings.max_human_access_days,
        now=clock.now(),
    )


def _provider_has_default_labels(args: ResourceValidationArgs) -> bool:
    provider = args.provider
    if provider is None:
        return False
    labels = get(to_plain(provider.props), "defaultLabels")
    if isinstance(labels, str):
        labels = parse_json(labels)
    return isinstance(labels, Mapping) and len(labels) > 0


def resource_policy(
    name: str,
    description: str,
    rule: ResourceRule,
    level: EnforcementLevel,
    severity: Severity,
    config_keys: Sequence[str] = (),
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        settings = _settings(name, args.get_config(), config_keys)
        reason = settings.exemptions.get(args.urn)
        if reason is not None:
            args.not_applicable(f"exempted: {reason}")
        ctx = _context(settings, args.urn, args.name, default_labels=_provider_has_default_labels(args))
        for message in rule(args.resource_type, to_plain(args.props), ctx):
            report(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        severity=severity,
        config_schema=_schema(config_keys),
    )


def plain_resources(args: StackValidationArgs) -> list[dict[str, Any]]:
    return [
        {
            "urn": r.urn,
            "type": r.resource_type,
            "name": r.name,
            "props": to_plain(r.props),
            "parent": r.parent.urn if r.parent is not None else None,
            "dependencies": [d.urn for d in r.dependencies],
        }
        for r in args.resources
    ]


# Settings a stack policy parsed in this analysis, for a later policy that reads them (Spec.settings_from).
# The SDK runs a pack's stack policies in order within one AnalyzeStack call; a source that did not run
# (disabled) leaves nothing, and the reader falls back to its own (default) settings.
_SHARED_SETTINGS: dict[str, PolicySettings] = {}


def stack_policy(
    name: str,
    description: str,
    rule: StackRule,
    level: EnforcementLevel,
    severity: Severity,
    config_keys: Sequence[str] = (),
    settings_from: str | None = None,
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        settings = _settings(name, args.get_config(), config_keys)
        _SHARED_SETTINGS[name] = settings
        if settings_from is not None:
            source = _SHARED_SETTINGS.pop(settings_from, None)
            if source is not None:
                settings = replace(settings, allowed_invokers=source.allowed_invokers)
        resources = plain_resources(args)
        stack = next((s for s in (stack_of_urn(r["urn"]) for r in resources) if s), "")
        ctx = _context(settings, stack=stack)
        for urn, message in rule(resources, ctx):
            if urn not in settings.exemptions:
                report(message, urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        severity=severity,
        config_schema=_schema(config_keys),
    )
