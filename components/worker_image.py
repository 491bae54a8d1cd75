"""WorkerImage: the worker's container image, built and pushed by digest, or a prebuilt one by reference."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build
import pulumi_gcp as gcp

from secure_invoke.components._registry import docker_repository
from secure_invoke.components.sources import directory_digest


@dataclass(frozen=True)
class WorkerImageArgs:
    # The repository's project.
    project: pulumi.Input[str]
    # The repository's region.
    region: str
    # The Artifact Registry repository's id.
    repository_id: str
    # The build context (a `Dockerfile` in it); its content tags the image.
    context_dir: str
    # The image's name in the repository.
    image_name: str = "worker"
    # A prebuilt image (ideally `…@sha256:…`): nothing is built or pushed, no repository is created.
    prebuilt: str | None = None
    # Versions kept by the cleanup policy (older ones go after 30 days).
    keep_count: int = 10
    # Labels on the repository.
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.prebuilt is None and not Path(self.context_dir, "Dockerfile").is_file():
            raise ValueError(f"WorkerImageArgs.context_dir: {self.context_dir} has no Dockerfile")


class WorkerImage(pulumi.ComponentResource):
    """Output: `ref`, an image reference that names a digest whenever this component built it."""

    def __init__(self, name: str, args: WorkerImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:images:WorkerImage", name, None, opts)
        if args.prebuilt is not None:
            self.ref: pulumi.Output[str] = pulumi.Output.from_input(args.prebuilt)
            self.register_outputs({"ref": self.ref})
            return
        child = pulumi.ResourceOptions(parent=self)
        self.repository = docker_repository(
            f"{name}-repository",
            project=args.project,
            region=args.region,
            repository_id=args.repository_id,
            description="Worker images, pushed by the deploy",
            keep_count=args.keep_count,
            labels=args.labels,
            opts=child,
        )
        host = f"{args.region}-docker.pkg.dev"
        # Tag by content for humans; the service deploys the pushed digest (`ref`), never the tag. Tags stay
        # mutable: a rebuild of unchanged sources (new base layer, new buildkit) may push a new digest.
        tag = pulumi.Output.concat(
            host, "/", self.repository.project, "/", self.repository.repository_id, "/", args.image_name, ":",
            directory_digest(args.context_dir)[:16],
        )  # fmt: skip
        # The deployer's own short-lived token (from its federated identity); no key file involved.
        token = gcp.organizations.get_client_config_output().access_token
        self.image = docker_build.Image(
            name,
            context=docker_build.BuildContextArgs(location=args.context_dir),
            dockerfile=docker_build.DockerfileArgs(location=str(Path(args.context_dir, "Dockerfile"))),
            platforms=[docker_build.Platform.LINUX_AMD64],
            push=True,
            tags=[tag],
            registries=[
                docker_build.RegistryArgs(
                    address=host, username="oauth2accesstoken", password=pulumi.Output.secret(token)
                )
            ],
            opts=child,
        )
        self.ref = self.image.ref
        self.register_outputs({"ref": self.ref})
