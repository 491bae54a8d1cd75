"""Uses a class only the program's own (older, stub) pulumi-gcp has, and a provider preflight never heard of."""

import pulumi
import pulumi_gcp as gcp

bucket = gcp.storage.LegacyBucket("logs", location="EU")

import pulumi_tinycloud as tiny  # noqa: E402 (after the bucket: the version mismatch is what fails first)

database = tiny.Database("orders", size="small")

pulumi.export("gcp_version", gcp.VERSION)
pulumi.export("bucket_link", bucket.self_link)
pulumi.export("retention_days", bucket.retention.apply(lambda retention: retention.retention_days))
pulumi.export("db_url", database.status.apply(lambda status: status.url))
pulumi.export("db_port", database.port)
