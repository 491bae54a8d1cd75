"""AccessAudit: who called the worker, as whom, when — Google's record of every impersonation, and counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

# Service Account Credentials' Data Access logs can't be enabled on their own: Google's page on its audit
# logging ("Service Account Credentials audit logging") says to enable them for the IAM API, and lists
# GenerateIdToken (permission iam.serviceAccounts.getOpenIdToken) under ADMIN_READ. ADMIN_READ alone logs every
# token mint; DATA_READ would add IAM's data reads, which nothing here reads.
IAM_SERVICE = "iam.googleapis.com"
AUDIT_LOG_TYPES = ("ADMIN_READ",)


def token_mints_filter(email: str) -> str:
    """Log entries of ID tokens minted for `email` (the audit log names the human caller in authenticationInfo)."""
    return (
        'protoPayload.serviceName="iamcredentials.googleapis.com" AND protoPayload.methodName="GenerateIdToken" '
        f'AND resource.type="service_account" AND resource.labels.email_id="{email}"'
    )


def denials_filter(service_name: str) -> str:
    """The worker's own audit lines (one JSON line per request) that refused a caller."""
    return (
        f'resource.type="cloud_run_revision" AND resource.labels.service_name="{service_name}" '
        'AND jsonPayload.message="request" AND (jsonPayload.status=401 OR jsonPayload.status=403)'
    )


@dataclass(frozen=True)
class AccessAuditArgs:
    # The project whose IAM audit config and metrics these are.
    project: pulumi.Input[str]
    # The identity people impersonate; its token mints are counted (and alerted on).
    operator_email: pulumi.Input[str]
    # The Cloud Run service whose refusals are counted.
    service_name: str
    # Suffix of the metric names, e.g. the environment.
    suffix: str
    # An alert policy on every token mint for the operator account.
    alert_on_operator_tokens: bool = False
    # Channels of that alert (`projects/<p>/notificationChannels/<id>`); only with the alert.
    notification_channels: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.notification_channels and not self.alert_on_operator_tokens:
            raise ValueError("AccessAuditArgs.notification_channels: given, but alert_on_operator_tokens is off")


class AccessAudit(pulumi.ComponentResource):
    """Data Access audit logs for IAM on the project (they record each impersonation with the human principal
    who asked), a log-based metric of operator token mints, one of the service's 401/403 refusals, and,
    optionally, an alert on any operator token mint.

    The audit config is authoritative for `iam.googleapis.com` on the project: it replaces whatever was set
    for that one service there (other services' audit configs are untouched).
    Children as attributes: `audit_config`, `token_metric`, `denial_metric`, `alert_policy` (or None).
    """

    def __init__(self, name: str, args: AccessAuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:observability:AccessAudit", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.audit_config = gcp.projects.IAMAuditConfig(
            f"{name}-iam-data-access",
            project=args.project,
            service=IAM_SERVICE,
            audit_log_configs=[gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=t) for t in AUDIT_LOG_TYPES],
            opts=child,
        )
        mints = pulumi.Output.from_input(args.operator_email).apply(token_mints_filter)
        self.token_metric = gcp.logging.Metric(
            f"{name}-operator-token-mints",
            name=f"operator-token-mints-{args.suffix}",
            project=args.project,
            description="ID tokens minted by people impersonating the operator account (see the log for who).",
            filter=mints,
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(metric_kind="DELTA", value_type="INT64", unit="1"),
            opts=child,
        )
        self.denial_metric = gcp.logging.Metric(
            f"{name}-denials",
            name=f"{args.service_name}-denials",
            project=args.project,
            description=f"Requests {args.service_name} refused: 401 (token) and 403 (caller not allowed).",
            filter=denials_filter(args.service_name),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                labels=[gcp.logging.MetricMetricDescriptorLabelArgs(key="status", value_type="INT64")],
            ),
            label_extractors={"status": "EXTRACT(jsonPayload.status)"},
            opts=child,
        )
        self.alert_policy = _token_alert(name, args, mints, child) if args.alert_on_operator_tokens else None
        self.register_outputs(
            {"operator_token_metric": self.token_metric.name, "denial_metric": self.denial_metric.name}
        )


def _token_alert(
    name: str, args: AccessAuditArgs, mints: pulumi.Output[str], child: pulumi.ResourceOptions
) -> gcp.monitoring.AlertPolicy:
    """An alert on every operator token mint."""
    # A log-match condition fires on each matching entry; no metric threshold to tune, nothing missed.
    return gcp.monitoring.AlertPolicy(
        f"{name}-operator-token-alert",
        project=args.project,
        display_name=f"Operator token minted ({args.suffix})",
        combiner="OR",
        severity="WARNING",
        conditions=[
            gcp.monitoring.AlertPolicyConditionArgs(
                display_name="a person minted an ID token as the operator account",
                condition_matched_log=gcp.monitoring.AlertPolicyConditionConditionMatchedLogArgs(filter=mints),
            )
        ],
        alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
            notification_rate_limit=gcp.monitoring.AlertPolicyAlertStrategyNotificationRateLimitArgs(period="300s"),
            auto_close="1800s",
        ),
        notification_channels=list(args.notification_channels),
        documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
            mime_type="text/markdown",
            content=(
                "Someone minted an ID token as the worker's operator account. The log entry's "
                "`protoPayload.authenticationInfo` names who; the worker's audit line with "
                '`"caller_kind": "operator"` shows what they called.'
            ),
        ),
        opts=child,
    )
