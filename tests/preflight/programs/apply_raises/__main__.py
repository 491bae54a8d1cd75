import pulumi_gcp as gcp


def audience(name: str) -> str:
    raise ValueError(f"audience for {name} is not allowed")


# `name` is the program's own input: known in a preview too, where this callback raises just the same.
service = gcp.cloudrunv2.Service(
    "worker", name="worker", location="us-central1", template={"containers": [{"image": "x"}]}
)
gcp.pubsub.Topic("topic", labels=service.name.apply(lambda name: {"aud": audience(name)}))
