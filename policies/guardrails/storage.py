"""Cloud Storage buckets: IAM only (uniform bucket-level access), and public access prevention."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .context import RuleContext
from .values import UNKNOWN, get, get_str, is_true

__all__ = ["BUCKET", "bucket_public_access_prevention", "bucket_uniform_access"]

BUCKET: Final = "gcp:storage/bucket:Bucket"


def bucket_uniform_access(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """Without uniform bucket-level access, object ACLs grant access that no IAM review sees."""
    value = get(props, "uniformBucketLevelAccess")
    if value is UNKNOWN or is_true(value):
        return []
    return [
        f"uniformBucketLevelAccess is not enabled on bucket {ctx.label}: object and bucket ACLs can then grant "
        "access (even to allUsers) that IAM policies and reviews never show. Set uniformBucketLevelAccess=True "
        "and grant access through IAM on the bucket."
    ]


def bucket_public_access_prevention(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """`inherited` (the default) leaves it to an organization policy the program cannot see."""
    value = get_str(props, "publicAccessPrevention")
    if value is UNKNOWN or (isinstance(value, str) and value.strip().lower() == "enforced"):
        return []
    state = "is not set" if value is None else f"is {value}"
    return [
        f"publicAccessPrevention {state} on bucket {ctx.label}: only an organization policy (if any) stops a "
        "later public grant. Set publicAccessPrevention='enforced' unless the bucket is meant to be public."
    ]
