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

import json
import logging
import os
from collections.abc import Mapping
from typing import Any, Final

import pulumi
from pulumi_policy import (
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import _DictProxy, _ListProxy
from pulumi_policy.secret import _DictSecretsProxy, _ListSecretsProxy

from . import analyzer_cache, clock, exemptions, provenance
from .config import ConfigError, PolicySettings, parse_settings, schema
from .context import RuleContext
from .spec import Spec
from .stack import StackModel
from .values import get, parse_json, stack_of_urn

__all__ = ["StackModels", "policy", "resource_policy", "stack_policy", "to_plain"]


def to_plain(value: Any, _depth: int = 0) -> Any:
    """Proxies, secrets and nested containers -> plain dicts/lists; unknown sentinels kept as strings; assets and
    archives as what the engine sends (`{"text"|"path"|"uri": …}`, an archive's `{"assets": {name: …}}`)."""
    if _depth > 64:
        return None
    if isinstance(value, _DictProxy | _DictSecretsProxy | _ListProxy | _ListSecretsProxy):
        value = value["__target"]
    if isinstance(value, Secret):
        value = value.value
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return _asset_plain(value, _depth)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v, _depth + 1) for v in value]
    return value


def _asset_plain(value: pulumi.Asset | pulumi.Archive, depth: int) -> dict[str, Any]:
    if isinstance(value, pulumi.AssetArchive):
        return {"assets": {str(k): to_plain(v, depth + 1) for k, v in value.assets.items()}}
    for attribute in ("text", "path", "uri"):
        member = getattr(value, attribute, None)
        if isinstance(member, str):
            return {attribute: member}
    return {}


class _QuietConfigErrors(logging.Filter):
    """gRPC logs every exception a servicer raises with its traceback; a ConfigError is a one-line message the
    engine shows from the call's status, so its traceback is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        return not (info and isinstance(info[1], ConfigError))


logging.getLogger("grpc._server").addFilter(_QuietConfigErrors())


class _Settings:
    """A policy's settings, parsed from its config and kept while the config stays the same: the SDK hands
    each call a copy of it, and a policy runs once per resource. A ConfigError (a one-line cause naming the
    policy and key) stops the run."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._last: tuple[object, PolicySettings] | None = None

    def of(self, config: object) -> PolicySettings:
        last = self._last
        if last is not None and last[0] == config:
            return last[1]
        settings = parse_settings(self.spec.name, config, self.spec.settings)
        self._last = (config, settings)
        return settings


def _context(
    settings: PolicySettings,
    urn: str = "",
    name: str = "",
    stack: str = "",
    default_labels: bool = False,
    origins: provenance.Provenance = provenance.NO_PROVENANCE,
) -> RuleContext:
    return RuleContext(
        urn=urn,
        name=name,
        stack=stack or stack_of_urn(urn) or os.environ.get("PULUMI_STACK", ""),
        settings=settings,
        provider_default_labels=default_labels,
        now=clock.now(),
        provenance=origins,
    )


def _plain(props: Any) -> Any:
    """A resource's properties as plain values, once per analyzer call: every policy of the call gets the same
    proxy (analyzer_cache), so the same plain value serves them all (rules never write to what they read)."""
    return analyzer_cache.per_call("plain", props, to_plain)


def _split(props: Any) -> tuple[Any, provenance.Provenance]:
    return provenance.split(_plain(props))


def _provider_has_default_labels(args: ResourceValidationArgs) -> bool:
    provider = args.provider
    if provider is None:
        return False
    labels = get(_plain(provider.props), "defaultLabels")
    if isinstance(labels, str):
        labels = parse_json(labels)
    return isinstance(labels, Mapping) and len(labels) > 0


def resource_policy(spec: Spec) -> ResourceValidationPolicy:
    rule = spec.resource_rule
    assert rule is not None
    settings_of = _Settings(spec)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        settings = settings_of.of(args.get_config())  # first: a broken config stops the run on any resource
        if settings.exemptions:
            exemptions.record(spec.name, settings.exemptions)
        reason = settings.exemptions.get(args.urn)
        messages: list[str] = []
        if spec.judges(args.resource_type):
            labels = spec.reads_provider_labels and _provider_has_default_labels(args)
            # preflight's provenance rides in the properties (the CLI never sends it): the rule reads it from ctx.
            props, origins = analyzer_cache.per_call("split", args.props, _split)
            ctx = _context(settings, args.urn, args.name, default_labels=labels, origins=origins)
            messages = rule(args.resource_type, props, ctx)
        if reason is not None:
            if messages:  # what the exemption suppressed, printed for the CLI and preflight to show
                exemptions.exempted(spec.name, args.urn, reason)
            args.not_applicable(f"exempted: {reason}")
        for message in messages:
            report(message, None)

    return ResourceValidationPolicy(
        name=spec.name,
        description=spec.description,
        validate=validate,
        enforcement_level=spec.level,
        severity=spec.severity,
        config_schema=PolicyConfigSchema(properties=schema(spec.settings)),
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


# Marks a secret in a fingerprint: the engine's signature key, which no deserialized property keeps.
_SECRET_MARK: Final = "4dabf18193072939515e22adb298388d"  # noqa: S105 (a signature key, not a secret)


def _unwrap(value: Any) -> Any:
    if isinstance(value, _DictProxy | _DictSecretsProxy | _ListProxy | _ListSecretsProxy):
        return value["__target"]
    if isinstance(value, Secret):
        return {_SECRET_MARK: value.value}
    raise TypeError(type(value).__name__)


def _fingerprint(args: StackValidationArgs) -> str | None:
    """The resources a stack policy is given, as one text (proxies unwrapped, nothing copied): equal texts mean
    equal plain resources. None when a value has no text form (then nothing is reused)."""
    try:
        return json.dumps([(r.urn, r.resource_type, r.name, r.props) for r in args.resources], default=_unwrap)
    except (TypeError, ValueError, RecursionError):
        return None


class StackModels:
    """The model of the stack being judged, shared by the stack policies of one pack: the first of them to run
    in an AnalyzeStack call builds it, the others reuse it while their resources are the same (the SDK hands
    each policy its own copy of them). It only saves work: a policy that runs alone, or first, builds the same
    model from the same resources, so no policy depends on another having run."""

    def __init__(self) -> None:
        self._last: tuple[str, StackModel] | None = None

    def of(self, args: StackValidationArgs) -> StackModel:
        state = analyzer_cache.call_state()
        if state is not None:  # one AnalyzeStack call: every stack policy of it is given the same resources
            model = state.get("model")
            if model is None:
                model = state["model"] = StackModel(plain_resources(args))
            return model
        key = _fingerprint(args)
        last = self._last
        if key is not None and last is not None and last[0] == key:
            return last[1]
        model = StackModel(plain_resources(args))
        self._last = (key, model) if key is not None else None
        return model


def _check_exemptions(policy: str, own: Mapping[str, str], model: StackModel) -> None:
    """Warn about exemptions naming no resource of the stack: this stack policy's own, and (once per
    AnalyzeStack call) those the resource policies recorded while they analyzed each resource."""
    urns = [r.urn for r in model.resources]
    exemptions.check(urns, {policy: own})
    state = analyzer_cache.call_state()
    if state is None or not state.get("exemptions checked"):
        exemptions.check(urns)
        if state is not None:
            state["exemptions checked"] = True


def stack_policy(spec: Spec, models: StackModels | None = None) -> StackValidationPolicy:
    rule = spec.stack_rule
    assert rule is not None
    settings_of = _Settings(spec)
    models = models if models is not None else StackModels()

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        settings = settings_of.of(args.get_config())
        model = models.of(args)
        ctx = _context(settings, stack=model.stack)
        suppressed: dict[str, str] = {}
        for urn, message in rule(model, ctx):
            reason = settings.exemptions.get(urn)
            if reason is None:
                report(message, urn)
            else:
                suppressed.setdefault(urn, reason)
        for urn, reason in suppressed.items():  # printed for the CLI and preflight to show
            exemptions.exempted(spec.name, urn, reason)
        _check_exemptions(spec.name, settings.exemptions, model)

    return StackValidationPolicy(
        name=spec.name,
        description=spec.description,
        validate=validate,
        enforcement_level=spec.level,
        severity=spec.severity,
        config_schema=PolicyConfigSchema(properties=schema(spec.settings)),
    )


def policy(spec: Spec, models: StackModels | None = None) -> Policy:
    """The pulumi-policy policy of a Spec; the stack policies of one pack share `models`."""
    return resource_policy(spec) if spec.resource_rule is not None else stack_policy(spec, models)
