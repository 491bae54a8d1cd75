import pulumi

from . import outputs


@pulumi.input_type
class LegacyBucketArgs:
    def __init__(__self__, *, location: pulumi.Input[str], name: pulumi.Input[str] | None = None):
        pulumi.set(__self__, "location", location)
        pulumi.set(__self__, "name", name)

    @property
    @pulumi.getter
    def location(self) -> pulumi.Input[str]:
        return pulumi.get(self, "location")

    @property
    @pulumi.getter
    def name(self) -> pulumi.Input[str] | None:
        return pulumi.get(self, "name")


class LegacyBucket(pulumi.CustomResource):
    def __init__(__self__, resource_name: str, location: str, name: str | None = None, opts=None):
        # As generated SDKs do: the Args type carries the names' translation, outputs start as None.
        props = LegacyBucketArgs.__new__(LegacyBucketArgs)
        props.__dict__.update(location=location, name=name, self_link=None, retention=None)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version="6.0.0"))
        super().__init__("gcp:storage/legacyBucket:LegacyBucket", resource_name, props, opts)

    @property
    @pulumi.getter
    def location(self) -> pulumi.Output[str]:
        return pulumi.get(self, "location")

    @property
    @pulumi.getter
    def name(self) -> pulumi.Output[str]:
        return pulumi.get(self, "name")

    @property
    @pulumi.getter(name="selfLink")
    def self_link(self) -> pulumi.Output[str]:
        return pulumi.get(self, "self_link")

    @property
    @pulumi.getter
    def retention(self) -> pulumi.Output["outputs.LegacyBucketRetention"]:
        return pulumi.get(self, "retention")
