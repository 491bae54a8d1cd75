"""The one shape of Artifact Registry repository the components create."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp

_THIRTY_DAYS = f"{30 * 24 * 3600}s"


def docker_repository(
    resource_name: str,
    *,
    project: pulumi.Input[str],
    region: str,
    repository_id: str,
    description: str,
    keep_count: int,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> gcp.artifactregistry.Repository:
    """A Docker repository that keeps the `keep_count` newest versions and deletes the rest after 30 days.

    KEEP wins over DELETE in Artifact Registry, so the newest versions survive however old they are.
    """
    return gcp.artifactregistry.Repository(
        resource_name,
        project=project,
        location=region,
        repository_id=repository_id,
        format="DOCKER",
        description=description,
        cleanup_policy_dry_run=False,
        cleanup_policies=[
            gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                id="keep-recent",
                action="KEEP",
                most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                    keep_count=keep_count
                ),
            ),
            gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                id="delete-old",
                action="DELETE",
                condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(older_than=_THIRTY_DAYS),
            ),
        ],
        labels=dict(labels),
        opts=opts,
    )
