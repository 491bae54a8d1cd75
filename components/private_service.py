"""PrivateService: a Cloud Run v2 service that only named identities can invoke."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components._options import inherited_depends_on
from secure_invoke.components.identity import ServiceIdentity

# Cloud Run runs at most one request at a time on less than one vCPU; both spellings of half a vCPU.
CPU_BELOW_ONE = frozenset({"0.5", "500m"})
INVOKER_ROLE = "roles/run.invoker"


@dataclass(frozen=True)
class PrivateServiceArgs:
    """Inputs of a private service. Defaults are the safe ones: IAM gate on, no public member, one revision."""

    region: str
    image: pulumi.Input[str]
    identity: ServiceIdentity
    project: pulumi.Input[str] | None = None
    service_name: str | None = None
    min_instances: int = 0
    max_instances: int = 3
    concurrency: int = 8
    cpu: str = "1"
    memory: str = "512Mi"
    request_timeout_seconds: int = 300
    startup_cpu_boost: bool = False
    internal_ingress: bool = False
    deletion_protection: bool = True
    custom_audience: str | None = None
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # env var → Secret Manager secret id; always the latest version, never a plaintext value.
    secret_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    port: int = 8080
    health_path: str = "/healthz"

    def __post_init__(self) -> None:
        if not 0 <= self.min_instances <= self.max_instances:
            raise ValueError(
                f"PrivateServiceArgs: need 0 <= min_instances ({self.min_instances}) <= "
                f"max_instances ({self.max_instances})"
            )
        if self.cpu in CPU_BELOW_ONE and self.concurrency != 1:
            raise ValueError(f"PrivateServiceArgs.concurrency: must be 1 below 1 vCPU (cpu={self.cpu})")
        if not 1 <= self.request_timeout_seconds <= 3600:
            raise ValueError("PrivateServiceArgs.request_timeout_seconds: must be within 1..3600")
        overlap = set(self.env) & set(self.secret_env)
        if overlap:
            raise ValueError(f"PrivateServiceArgs: {sorted(overlap)} set both as env and as secret_env")


class PrivateService(pulumi.ComponentResource):
    """A Cloud Run v2 service with the invoker IAM check on and its own runtime identity.

    Outputs: `service`, `name`, `uri`, `audience` (custom audience if set, else the URL).
    Invocation is granted only through `grant_invoker`, one identity at a time, on this service alone.
    """

    def __init__(self, name: str, args: PrivateServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:serverless:PrivateService", name, None, opts)
        self._args = args
        self.service = gcp.cloudrunv2.Service(
            name,
            name=args.service_name or name,
            location=args.region,
            project=args.project,
            ingress="INGRESS_TRAFFIC_INTERNAL_ONLY" if args.internal_ingress else "INGRESS_TRAFFIC_ALL",
            # Explicit: IAM is the gate; the pack rejects any program that turns it off.
            invoker_iam_disabled=False,
            deletion_protection=args.deletion_protection,
            custom_audiences=[args.custom_audience] if args.custom_audience else None,
            labels=dict(args.labels),
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=args.identity.email,
                max_instance_request_concurrency=args.concurrency,
                timeout=f"{args.request_timeout_seconds}s",
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=args.min_instances, max_instance_count=args.max_instances
                ),
                labels=dict(args.labels),
                containers=[_container(args)],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=inherited_depends_on(opts)),
        )
        self.name: pulumi.Output[str] = self.service.name
        self.uri: pulumi.Output[str] = self.service.uri
        self.audience: pulumi.Output[str] = (
            pulumi.Output.from_input(args.custom_audience) if args.custom_audience else self.service.uri
        )
        self.register_outputs({"name": self.name, "uri": self.uri, "audience": self.audience})

    def grant_invoker(self, caller: ServiceIdentity) -> gcp.cloudrunv2.ServiceIamMember:
        """roles/run.invoker on this one service for one identity: the only way invocation is granted."""
        return gcp.cloudrunv2.ServiceIamMember(
            f"{self._name}-invoker-{caller._name}",
            name=self.service.name,
            location=self.service.location,
            project=self.service.project,
            role=INVOKER_ROLE,
            member=caller.member,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _container(args: PrivateServiceArgs) -> gcp.cloudrunv2.ServiceTemplateContainerArgs:
    """The one container: image, port, limits, plain and secret environment, and the startup probe."""
    envs = [gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=v) for k, v in sorted(args.env.items())]
    envs += [
        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
            name=k,
            value_source=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                secret_key_ref=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                    secret=secret, version="latest"
                )
            ),
        )
        for k, secret in sorted(args.secret_env.items())
    ]
    probe = gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
        http_get=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(path=args.health_path),
        period_seconds=2,
        failure_threshold=15,
    )
    return gcp.cloudrunv2.ServiceTemplateContainerArgs(
        image=args.image,
        ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(container_port=args.port),
        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
            limits={"cpu": args.cpu, "memory": args.memory},
            startup_cpu_boost=args.startup_cpu_boost,
            # Request-based billing: the worker computes only while it serves a job.
            cpu_idle=True,
        ),
        envs=envs,
        startup_probe=probe,
    )
