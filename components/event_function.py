"""EventFunction: a gen2 Cloud Function on a Pub/Sub topic, with three identities of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time

from secure_invoke.components._options import inherited_depends_on
from secure_invoke.components._registry import docker_repository
from secure_invoke.components.identity import Condition, ScopedRole, ServiceIdentity, ServiceIdentityArgs, grant
from secure_invoke.components.sources import directory_digest, source_files

PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


def pubsub_agent(project_number: pulumi.Input[str]) -> pulumi.Output[str]:
    """The project's Pub/Sub service agent, as an IAM member."""
    return pulumi.Output.concat("serviceAccount:service-", project_number, "@gcp-sa-pubsub.iam.gserviceaccount.com")


def gcf_sources_condition(project_number: pulumi.Input[str], region: str) -> Condition:
    """Exactly the Google-created bucket `gcf-v2-sources-<project number>-<region>` and its objects: a gen2
    function's build fetches its source there (Cloud Functions copies the uploaded archive there). The bucket
    itself by equality (listing is checked on it), its objects by the prefix up to the `/objects/` separator, so
    `…-europe-west1` never matches `…-europe-west10`. Being a condition on a project grant, it works before the
    bucket exists and needs no IAM on a bucket we don't create."""
    bucket = pulumi.Output.concat("projects/_/buckets/gcf-v2-sources-", project_number, f"-{region}")
    return Condition(
        title="gcf-v2-sources-only",
        expression=pulumi.Output.concat(
            'resource.name == "', bucket, '" || resource.name.startsWith("', bucket, '/objects/")'
        ),
        description="Only the function source bucket that Cloud Functions creates for builds in this region.",
    )


@dataclass(frozen=True)
class VpcEgress:
    """Direct VPC egress for all traffic; the subnet needs Private Google Access to reach *.run.app."""

    # The VPC network.
    network: str
    # A subnet of it with Private Google Access.
    subnetwork: str


@dataclass(frozen=True)
class EventFunctionArgs:
    # The function's project.
    project: pulumi.Input[str]
    # Where the function, its bucket and build repository live.
    region: str
    # The Pub/Sub topic whose messages trigger it (`projects/<p>/topics/<t>`).
    topic_id: pulumi.Input[str]
    # The function's source folder (a `main.py` in it); its content names the archive.
    source_dir: str
    # The function in `main.py` to call.
    entry_point: str
    # Account ids of the three identities: <base>-runtime-<suffix>, <base>-trigger-<suffix>, <base>-build-<suffix>.
    identity_base: str
    # The environment, or whatever else tells this function's identities from others of the same base.
    identity_suffix: str
    # Names Google's per-project buckets and service agents (`gcf-v2-sources-<number>-<region>`, ...).
    project_number: pulumi.Input[str]
    # The function's name (default: the component's name).
    function_name: str | None = None
    # The Cloud Functions runtime.
    runtime: str = "python312"
    # Memory per instance.
    memory: str = "256Mi"
    # Upper bound on instances.
    max_instances: int = 5
    # Function timeout, 1..540 s.
    timeout_seconds: int = 60
    # Eventarc retries failed deliveries (up to 24 h) when true.
    retry: bool = True
    # The function's environment variables.
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Direct VPC egress for all traffic, or none.
    vpc_egress: VpcEgress | None = None
    # Labels on the function and its resources.
    labels: Mapping[str, str] = field(default_factory=dict)
    # Projects whose Pub/Sub service agent was created before 2021-04-08 need it to mint tokens for the trigger.
    legacy_pubsub_agent: bool = False
    # `destroy` deletes the source bucket with its archives.
    force_destroy_source: bool = False
    # Build images kept by the build repository's cleanup policy.
    build_images_kept: int = 5
    # Pass one in when another resource must know the caller before the function exists (its invokee's
    # allow-list); otherwise the function creates its own. Either way it is this function's alone.
    runtime_identity: ServiceIdentity | None = None
    # How long the build waits after its grants are made, as Google's "Cloud Functions 2 basic builder" example
    # waits (60 s): IAM is eventually consistent, and a first build would fail on a grant not yet in effect.
    grant_propagation_seconds: int = 60

    def __post_init__(self) -> None:
        # Eventarc-triggered functions stop at 540 s whatever is asked.
        if not 1 <= self.timeout_seconds <= 540:
            raise ValueError(f"EventFunctionArgs.timeout_seconds: {self.timeout_seconds} is outside 1..540")
        if self.max_instances < 1:
            raise ValueError("EventFunctionArgs.max_instances: must be at least 1")
        if not 0 <= self.grant_propagation_seconds <= 600:
            raise ValueError(
                f"EventFunctionArgs.grant_propagation_seconds: {self.grant_propagation_seconds} is outside 0..600"
            )
        if not Path(self.source_dir, "main.py").is_file():
            raise ValueError(f"EventFunctionArgs.source_dir: {self.source_dir} has no main.py")


class EventFunction(pulumi.ComponentResource):
    """Source bucket and archive, a build repository, the function, and its runtime/trigger/build identities.

    Grants, exactly: build → logging.logWriter (project), artifactregistry.writer (its repository),
    storage.objectViewer (its source bucket, and Google's `gcf-v2-sources-<number>-<region>` bucket through a
    conditioned project grant); trigger → run.invoker on the function's own Cloud Run service.
    The runtime identity gets nothing here: whatever it calls grants it access (see PrivateService).
    The function waits for the build grants, and `grant_propagation_seconds` after them.
    Outputs: `function`, `name`, `url`, `runtime_identity`, `trigger_identity`, `build_identity`.
    """

    def __init__(self, name: str, args: EventFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:serverless:EventFunction", name, None, opts)
        self._function_name = args.function_name or name
        self._child = pulumi.ResourceOptions(parent=self)
        self._source(args)
        self._identities(args)
        self._function(args, inherited_depends_on(opts))
        self._grants(args)
        self.name: pulumi.Output[str] = self.function.name
        self.url: pulumi.Output[str] = self.function.url
        self.register_outputs(
            {
                "name": self.name,
                "url": self.url,
                "runtime_email": self.runtime_identity.email,
                "trigger_email": self.trigger_identity.email,
                "build_email": self.build_identity.email,
            }
        )

    def _source(self, args: EventFunctionArgs) -> None:
        """The private source bucket, the archive named by its content, and the repository builds push to."""
        name, child = self._name, self._child
        self.source_bucket = gcp.storage.Bucket(
            f"{name}-source",
            project=args.project,
            location=args.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=args.force_destroy_source,
            labels=dict(args.labels),
            opts=child,
        )
        # The digest in the object name is what makes a code change redeploy the function.
        digest = directory_digest(args.source_dir)[:16]
        self.source_object = gcp.storage.BucketObject(
            f"{name}-source-archive",
            bucket=self.source_bucket.name,
            name=f"{self._function_name}-{digest}.zip",
            # Exactly the files the digest covers: no __pycache__ or other build noise is shipped.
            source=pulumi.AssetArchive(
                {
                    path.relative_to(args.source_dir).as_posix(): pulumi.FileAsset(str(path))
                    for path in source_files(Path(args.source_dir))
                }
            ),
            opts=child,
        )
        self.build_repository = docker_repository(
            f"{name}-builds",
            project=args.project,
            region=args.region,
            repository_id=f"{self._function_name}-builds",
            description=f"Build images of the {self._function_name} function",
            keep_count=args.build_images_kept,
            labels=args.labels,
            opts=child,
        )

    def _identity(
        self, args: EventFunctionArgs, role: str, what: str, roles: tuple[ScopedRole, ...] = ()
    ) -> ServiceIdentity:
        return ServiceIdentity(
            f"{self._name}-{role}",
            ServiceIdentityArgs(
                account_id=f"{args.identity_base}-{role}-{args.identity_suffix}",
                display_name=f"{self._function_name} {what}",
                project=args.project,
                roles=roles,
            ),
            opts=self._child,
        )

    def _identities(self, args: EventFunctionArgs) -> None:
        """Runtime (unless given), trigger and build identities; only the build's roles are granted here."""
        self.runtime_identity = args.runtime_identity or self._identity(args, "runtime", "runtime identity")
        self.trigger_identity = self._identity(args, "trigger", "Eventarc trigger identity")
        self.build_identity = self._identity(
            args,
            "build",
            "build identity",
            (
                ScopedRole("roles/logging.logWriter", "project", args.project),
                ScopedRole(
                    "roles/artifactregistry.writer",
                    "artifact_repository",
                    self.build_repository.name,
                    location=args.region,
                    project=args.project,
                ),
                ScopedRole("roles/storage.objectViewer", "bucket", self.source_bucket.name),
                # The build reads the archive from Google's copy, not from our bucket: without this it fails
                # with "Access to bucket gcf-v2-sources-… denied", on every run, not only the first.
                ScopedRole(
                    "roles/storage.objectViewer",
                    "project",
                    args.project,
                    condition=gcf_sources_condition(args.project_number, args.region),
                ),
            ),
        )

    def _function(self, args: EventFunctionArgs, depends_on: list[pulumi.Resource]) -> None:
        """The gen2 function: built as the build identity, run as the runtime one, triggered as the trigger one."""
        vpc = args.vpc_egress
        self.function = gcp.cloudfunctionsv2.Function(
            self._name,
            name=self._function_name,
            project=args.project,
            location=args.region,
            labels=dict(args.labels),
            build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
                runtime=args.runtime,
                entry_point=args.entry_point,
                # The full resource name, not the email: that is what Cloud Build accepts.
                service_account=self.build_identity.id,
                docker_repository=self.build_repository.id,
                source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                    storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=self.source_bucket.name, object=self.source_object.name
                    )
                ),
            ),
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                service_account_email=self.runtime_identity.email,
                ingress_settings="ALLOW_INTERNAL_ONLY",
                all_traffic_on_latest_revision=True,
                available_memory=args.memory,
                max_instance_count=args.max_instances,
                timeout_seconds=args.timeout_seconds,
                environment_variables=dict(args.env),
                direct_vpc_egress="VPC_EGRESS_ALL_TRAFFIC" if vpc else None,
                direct_vpc_network_interfaces=[
                    gcp.cloudfunctionsv2.FunctionServiceConfigDirectVpcNetworkInterfaceArgs(
                        network=vpc.network, subnetwork=vpc.subnetwork
                    )
                ]
                if vpc
                else None,
            ),
            event_trigger=gcp.cloudfunctionsv2.FunctionEventTriggerArgs(
                trigger_region=args.region,
                event_type=PUBSUB_PUBLISHED,
                pubsub_topic=args.topic_id,
                retry_policy="RETRY_POLICY_RETRY" if args.retry else "RETRY_POLICY_DO_NOT_RETRY",
                service_account_email=self.trigger_identity.email,
            ),
            # IAM is eventually consistent: the build must not start before its grants exist and have had time
            # to take effect.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._build_grants_settled(args), *depends_on]),
        )

    def _build_grants_settled(self, args: EventFunctionArgs) -> list[pulumi.Resource]:
        """The build's grants, and a wait of `grant_propagation_seconds` after them (created once, with the grants)."""
        grants: list[pulumi.Resource] = list(self.build_identity.grants)
        if args.grant_propagation_seconds == 0:
            return grants
        self.build_grants_wait = pulumiverse_time.Sleep(
            f"{self._name}-build-grants-propagation",
            create_duration=f"{args.grant_propagation_seconds}s",
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        return [*grants, self.build_grants_wait]

    def _grants(self, args: EventFunctionArgs) -> None:
        """The trigger's invoker grant on the function, and the legacy Pub/Sub agent's token minting for it."""
        # A gen2 function is invoked through its Cloud Run service, named like the function; it exists only
        # once the function does, so this grant follows it (Eventarc retries until the grant propagates).
        self.trigger_invoker = self.trigger_identity.grant(
            ScopedRole(
                "roles/run.invoker", "run_service", self.function.name, location=args.region, project=args.project
            )
        )
        if args.legacy_pubsub_agent:
            self.pubsub_agent_token_creator = grant(
                f"{self._name}-pubsub-agent-token-creator",
                pubsub_agent(args.project_number),
                ScopedRole(
                    "roles/iam.serviceAccountTokenCreator", "service_account", self.trigger_identity.account.name
                ),
                self._child,
            )
