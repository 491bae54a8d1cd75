import pulumi_gcp as gcp


def audience(url: str) -> str:
    raise ValueError(f"audience for {url} is not allowed")


service = gcp.cloudrunv2.Service("worker", location="us-central1", template={"containers": [{"image": "x"}]})
gcp.pubsub.Topic("topic", labels=service.uri.apply(lambda uri: {"aud": audience(uri)}))
