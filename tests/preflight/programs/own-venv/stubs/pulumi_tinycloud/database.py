import pulumi

from . import outputs


@pulumi.input_type
class DatabaseArgs:
    @property
    @pulumi.getter
    def size(self) -> pulumi.Input[str]:
        return pulumi.get(self, "size")


class Database(pulumi.CustomResource):
    def __init__(__self__, resource_name: str, size: str, opts=None):
        props = DatabaseArgs.__new__(DatabaseArgs)
        props.__dict__.update(size=size, port=None, status=None)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version="0.1.0"))
        super().__init__("tinycloud:index/database:Database", resource_name, props, opts)

    @property
    @pulumi.getter
    def port(self) -> pulumi.Output[int]:
        return pulumi.get(self, "port")

    @property
    @pulumi.getter
    def status(self) -> pulumi.Output["outputs.DatabaseStatus"]:
        return pulumi.get(self, "status")
