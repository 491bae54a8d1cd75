from . import storage

VERSION = "6.0.0"
__all__ = ["VERSION", "storage"]


def register(resource_modules: str) -> None:
    """Generated SDKs register their resource modules; this stub only needs to declare them."""


register(
    resource_modules="""
[{"pkg": "gcp", "mod": "storage/legacyBucket", "fqn": "pulumi_gcp.storage",
  "classes": {"gcp:storage/legacyBucket:LegacyBucket": "LegacyBucket"}}]
"""
)
