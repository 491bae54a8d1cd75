"""Hygiene (advisory): labels, warm instances for production services, ingress open to the internet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .context import RuleContext
from .values import UNKNOWN, Unknown, as_number, get, get_map, get_str
from .workloads import FUNCTION_V1, FUNCTION_V2, RUN_V1_SERVICE, RUN_V2_SERVICE, WORKLOAD_TYPES

__all__ = ["INGRESS_TYPES", "LABELLED_TYPES", "ingress_restricted", "labels_present", "prod_min_instances"]

LABELLED_TYPES: Final = WORKLOAD_TYPES | {
    "gcp:storage/bucket:Bucket",
    "gcp:pubsub/topic:Topic",
    "gcp:pubsub/subscription:Subscription",
    "gcp:secretmanager/secret:Secret",
    "gcp:artifactregistry/repository:Repository",
}


def labels_present(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    if ctx.provider_default_labels:
        return []
    path = ("metadata", "labels") if resource_type == RUN_V1_SERVICE else ("labels",)
    labels = get_map(props, *path)
    if labels is UNKNOWN or (isinstance(labels, Mapping) and len(labels) > 0):
        return []
    return [
        f"{'.'.join(path)} is empty on {ctx.label}: costs and incidents cannot be traced to an owner or "
        "environment. Set labels (e.g. app, env, owner) on the resource or defaultLabels on the provider."
    ]


_MIN_SCALE_ANNOTATION = "autoscaling.knative.dev/minScale"


def prod_min_instances(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """A production Cloud Run service without warm instances pays a cold start on the first request."""
    if ctx.stack not in ctx.settings.production_stacks:
        return []
    if resource_type == RUN_V2_SERVICE:
        values = [
            as_number(get(props, "template", "scaling", "minInstanceCount")),
            as_number(get(props, "scaling", "minInstanceCount")),
        ]
        setting = "template.scaling.minInstanceCount"
    else:
        values = [as_number(get(props, "template", "metadata", "annotations", _MIN_SCALE_ANNOTATION))]
        setting = f"template.metadata.annotations[{_MIN_SCALE_ANNOTATION}]"
    if any(v is UNKNOWN or (isinstance(v, float) and v >= 1) for v in values):
        return []
    return [
        f"production service {ctx.label} (stack '{ctx.stack}') keeps no warm instance, so a request after "
        f"idle waits for a cold start. Set {setting} to at least 1 (and startup CPU boost)."
    ]


_INGRESS_ADVICE = (
    "IAM is then the only gate. If callers can reach it through a VPC, restrict ingress to internal "
    "traffic (callers then need Direct VPC egress with ALL_TRAFFIC)."
)


INGRESS_TYPES: Final = frozenset({RUN_V2_SERVICE, FUNCTION_V2, FUNCTION_V1, RUN_V1_SERVICE})


def ingress_restricted(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    if resource_type == RUN_V2_SERVICE:
        path, open_values, fix = ("ingress",), {"INGRESS_TRAFFIC_ALL"}, "INGRESS_TRAFFIC_INTERNAL_ONLY"
    elif resource_type == FUNCTION_V2:
        path, open_values, fix = ("serviceConfig", "ingressSettings"), {"ALLOW_ALL"}, "ALLOW_INTERNAL_ONLY"
    elif resource_type == FUNCTION_V1:
        path, open_values, fix = ("ingressSettings",), {"ALLOW_ALL"}, "ALLOW_INTERNAL_ONLY"
    elif resource_type == RUN_V1_SERVICE:
        path, open_values, fix = ("metadata", "annotations", "run.googleapis.com/ingress"), {"all"}, "internal"
    else:
        return []
    value = get_str(props, *path)
    if isinstance(value, Unknown):
        return []
    if value is not None and value.strip() not in open_values:
        return []
    state = "is not set (defaults to all traffic)" if value is None else f"is {value}"
    return [f"{'.'.join(path)} of {ctx.label} {state}: reachable from the internet. {_INGRESS_ADVICE} ({fix})"]
