from .database import Database


def register(resource_modules: str) -> None:
    """Generated SDKs register their resource modules; this stub only needs to declare them."""


register(
    resource_modules="""
[{"pkg": "tinycloud", "mod": "index/database", "fqn": "pulumi_tinycloud",
  "classes": {"tinycloud:index/database:Database": "Database"}}]
"""
)

__all__ = ["Database"]
