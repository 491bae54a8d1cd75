"""PrivateService: a Cloud Run v2 service that only its declared callers can invoke."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components._options import inherited_depends_on
from secure_invoke.components.callers import Caller, CallerEnv, Target, caller_resource
from secure_invoke.components.identity import ScopedRole, ServiceIdentity, ServiceIdentityArgs, grant

# Cloud Run runs at most one request at a time on less than one vCPU; both spellings of half a vCPU.
CPU_BELOW_ONE = frozenset({"0.5", "500m"})
INVOKER_ROLE = "roles/run.invoker"
SECRETS_MOUNT = "/secrets"


@dataclass(frozen=True)
class PrivateServiceArgs:
    """Inputs of a private service. Defaults are the safe ones: IAM gate on, no public member, one revision."""

    # Where the service runs.
    region: str
    # The container image (ideally by digest).
    image: pulumi.Input[str]
    # The identity the service runs as.
    identity: ServiceIdentity
    # The service's project.
    project: pulumi.Input[str] | None = None
    # The service's name (default: the component's name).
    service_name: str | None = None
    # Who may invoke it: one roles/run.invoker grant on this service per caller, and nothing else grants it.
    callers: Sequence[Caller] = field(default_factory=tuple)
    # Set: the service's env tells it its callers and audience (a service that checks its callers itself).
    caller_env: CallerEnv | None = None
    # Warm instances.
    min_instances: int = 0
    # Upper bound on instances.
    max_instances: int = 3
    # Requests per instance (1 below one vCPU).
    concurrency: int = 8
    # vCPU per instance.
    cpu: str = "1"
    # Memory per instance.
    memory: str = "512Mi"
    # Request timeout, 1..3600 s.
    request_timeout_seconds: int = 300
    # Extra CPU while an instance starts.
    startup_cpu_boost: bool = False
    # Internal traffic only (callers then need VPC egress); else all, with IAM as the gate.
    internal_ingress: bool = False
    # Cloud Run refuses to delete the service while true.
    deletion_protection: bool = True
    # A Cloud Run custom audience callers mint for, known before the URL is.
    custom_audience: str | None = None
    # The container's environment variables.
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # env var → Secret Manager secret id, mounted as a file whose path is the env var's value (`/secrets/<env var,
    # lower case>/value`): read when used, always the latest version; the service starts before the secret has one.
    secret_files: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Labels on the service and its revisions.
    labels: Mapping[str, str] = field(default_factory=dict)
    # The container's port.
    port: int = 8080
    # The startup probe's path.
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
        overlap = set(self.env) & set(self.secret_files)
        if overlap:
            raise ValueError(f"PrivateServiceArgs: {sorted(overlap)} set both as env and as secret_files")
        names = [c.name for c in self.callers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"PrivateServiceArgs.callers: {repeated} named more than once")
        if self.caller_env is not None:
            reserved = {self.caller_env.allowed, self.caller_env.operators, self.caller_env.audience}
            clash = sorted(reserved & (set(self.env) | set(self.secret_files)))
            if clash:
                raise ValueError(f"PrivateServiceArgs.env: {clash} are written from callers (caller_env)")


class PrivateService(pulumi.ComponentResource):
    """A Cloud Run v2 service with the invoker IAM check on, its own runtime identity, and its callers.

    Each `Caller` of `args.callers` gets the one `roles/run.invoker` grant on this service (there is no other
    way to grant it), its email in the allowlist the service reads (`caller_env`), and, if it declares a `call`,
    the Google resource that calls the service as that identity with a token for the service's audience.
    Outputs: `service`, `name`, `uri`, `audience` (custom audience if set, else the URL); `caller_identities`
    and `invoker_grants` by caller name; `caller_resources`, what each created caller is made of.
    """

    def __init__(self, name: str, args: PrivateServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:serverless:PrivateService", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        self.caller_identities: dict[str, ServiceIdentity] = {}
        emails: dict[str, pulumi.Output[str]] = {}
        for caller in args.callers:
            if caller.account_id is not None:
                self.caller_identities[caller.name] = ServiceIdentity(
                    caller.name,
                    ServiceIdentityArgs(
                        account_id=caller.account_id,
                        display_name=f"{caller.name} ({caller.kind}) calling {args.service_name or name}",
                        project=args.project,
                    ),
                    opts=child,
                )
            identity = caller.identity or self.caller_identities.get(caller.name)
            emails[caller.name] = identity.email if identity else pulumi.Output.from_input(caller.email or "")
        env = dict(args.env)
        if args.caller_env is not None:
            names = args.caller_env
            env[names.allowed] = _joined([emails[c.name] for c in args.callers])
            env[names.operators] = _joined([emails[c.name] for c in args.callers if c.operator])
            if args.custom_audience:
                env[names.audience] = args.custom_audience
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
                containers=[_container(args, env)],
                volumes=_secret_volumes(args) or None,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=inherited_depends_on(opts)),
        )
        self.name: pulumi.Output[str] = self.service.name
        self.uri: pulumi.Output[str] = self.service.uri
        self.audience: pulumi.Output[str] = (
            pulumi.Output.from_input(args.custom_audience) if args.custom_audience else self.service.uri
        )
        self.invoker_grants: dict[str, pulumi.CustomResource] = {
            caller.name: grant(
                f"{name}-invoker-{caller.name}",
                emails[caller.name].apply(lambda email: f"serviceAccount:{email}"),
                ScopedRole(
                    INVOKER_ROLE,
                    "run_service",
                    self.service.name,
                    location=self.service.location,
                    project=self.service.project,
                ),
                child,
            )
            for caller in args.callers
        }
        target = Target(
            uri=self.uri,
            audience=self.audience,
            region=args.region,
            project=args.project,
            timeout_seconds=args.request_timeout_seconds,
            deletion_protection=args.deletion_protection,
            labels=args.labels,
        )
        # A created caller's first request should find its grant in place.
        self.caller_resources: dict[str, list[pulumi.CustomResource]] = {
            caller.name: caller_resource(
                caller,
                emails[caller.name],
                target,
                pulumi.ResourceOptions(parent=self, depends_on=[self.invoker_grants[caller.name]]),
            )
            for caller in args.callers
            if caller.call is not None
        }
        self.register_outputs({"name": self.name, "uri": self.uri, "audience": self.audience})


def _joined(emails: list[pulumi.Output[str]]) -> pulumi.Output[str]:
    return pulumi.Output.all(*emails).apply(lambda values: ",".join(values))


def secret_file_path(variable: str) -> str:
    """Where the secret named by env var `variable` is mounted (the value Cloud Run gives that variable)."""
    return f"{SECRETS_MOUNT}/{_slug(variable)}/value"


def _slug(variable: str) -> str:
    return variable.lower().replace("_", "-")


def _secret_volumes(args: PrivateServiceArgs) -> list[gcp.cloudrunv2.ServiceTemplateVolumeArgs]:
    return [
        gcp.cloudrunv2.ServiceTemplateVolumeArgs(
            name=_slug(variable),
            # Always the latest version, fetched when the file is read (Cloud Run's secrets page).
            secret=gcp.cloudrunv2.ServiceTemplateVolumeSecretArgs(
                secret=secret,
                items=[gcp.cloudrunv2.ServiceTemplateVolumeSecretItemArgs(path="value", version="latest")],
            ),
        )
        for variable, secret in sorted(args.secret_files.items())
    ]


def _container(
    args: PrivateServiceArgs, env: Mapping[str, pulumi.Input[str]]
) -> gcp.cloudrunv2.ServiceTemplateContainerArgs:
    """The one container: image, port, limits, environment, secret files, and the startup probe."""
    files = sorted(args.secret_files)
    envs = [gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=v) for k, v in sorted(env.items())]
    envs += [gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=secret_file_path(k)) for k in files]
    mounts = [
        gcp.cloudrunv2.ServiceTemplateContainerVolumeMountArgs(
            name=_slug(variable), mount_path=secret_file_path(variable).removesuffix("/value")
        )
        for variable in files
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
        volume_mounts=mounts or None,
        startup_probe=probe,
    )
