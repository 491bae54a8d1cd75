import pulumi
import pulumi_gcp as gcp
from helpers import Pair

config = pulumi.Config()
labels = config.require_object("labels")
api_key = config.require_secret("apiKey")
project = gcp.organizations.get_project()
topic = gcp.pubsub.Topic("jobs", labels={"team": labels["team"]})
pairs = [Pair(f"p{i}") for i in range(config.require_int("workers"))]
agent = gcp.projects.ServiceIdentity("sm-agent", service="secretmanager.googleapis.com")
gcp.pubsub.TopicIAMMember(
    "agent-publisher",
    topic=topic.name,
    role="roles/pubsub.publisher",
    member=agent.email.apply(lambda e: f"serviceAccount:{e}"),
)
if config.get_bool("extraInvoker"):
    # A second invoker on p0's service: only a stack policy with known outputs can see it.
    gcp.cloudrunv2.ServiceIamMember(
        "extra-invoker",
        name=pairs[0].service.name,
        location=pairs[0].service.location,
        role="roles/run.invoker",
        member=pairs[1].account.member,
    )
if len(pairs) < 3:
    pulumi.log.warn(f"only {len(pairs)} pairs: no spare capacity")
pulumi.export("greeting", config.require("greeting"))
pulumi.export("project_number", project.number)
pulumi.export("url", pairs[0].service.uri)
pulumi.export("key", api_key)
