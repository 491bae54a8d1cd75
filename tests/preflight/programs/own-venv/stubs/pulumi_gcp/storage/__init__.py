from .legacy_bucket import LegacyBucket, LegacyBucketArgs

__all__ = ["LegacyBucket", "LegacyBucketArgs"]
