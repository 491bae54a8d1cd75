import pulumi


@pulumi.output_type
class DatabaseStatus(dict):
    def __init__(__self__, *, url: str, ready: bool):
        pulumi.set(__self__, "url", url)
        pulumi.set(__self__, "ready", ready)

    @property
    @pulumi.getter
    def url(self) -> str:
        return pulumi.get(self, "url")

    @property
    @pulumi.getter
    def ready(self) -> bool:
        return pulumi.get(self, "ready")
