import pulumi
import pulumi_gcp as gcp


class Pair(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("basic:index:Pair", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(f"{name}-sa", account_id=f"{name}-sa", opts=child)
        self.service = gcp.cloudrunv2.Service(
            f"{name}-svc",
            location="europe-west1",
            template={
                "service_account": self.account.email,
                "containers": [{"image": "us-docker.pkg.dev/x/y@sha256:" + "a" * 64}],
            },
            opts=child,
        )
        self.grant = gcp.cloudrunv2.ServiceIamMember(
            f"{name}-invoker",
            name=self.service.name,
            location=self.service.location,
            role="roles/run.invoker",
            member=self.account.member,
            opts=child,
        )
        self.register_outputs({"url": self.service.uri})
