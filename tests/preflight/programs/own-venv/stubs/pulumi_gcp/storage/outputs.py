import pulumi


@pulumi.output_type
class LegacyBucketRetention(dict):
    def __init__(__self__, *, retention_days: int):
        pulumi.set(__self__, "retention_days", retention_days)

    @property
    @pulumi.getter(name="retentionDays")
    def retention_days(self) -> int:
        return pulumi.get(self, "retention_days")
