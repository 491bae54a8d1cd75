"""Applies that a preview would not run: one calls Google itself (credentials needed), one parses a URL the
provider computes. Known mode makes their outputs unknown, as a preview does, and says so."""

import google.auth
import pulumi
import pulumi_gcp as gcp


def owner_project(email: str) -> str:
    _, project = google.auth.default()  # Application Default Credentials: none offline
    return project or email.split("@")[1].split(".")[0]


def url_number(uri: str) -> str:
    return str(int(uri.split("//")[1].split("-")[1]))  # a project number in the URL, as this program expects


runner = gcp.serviceaccount.Account("runner", account_id="runner")
worker = gcp.cloudrunv2.Service(
    "worker", location="europe-west1", template={"service_account": runner.email, "containers": [{"image": "x"}]}
)
gcp.pubsub.Topic("jobs", labels=runner.email.apply(lambda email: {"owner": owner_project(email)}))
gcp.pubsub.Topic("audit", labels=worker.uri.apply(lambda uri: {"number": url_number(uri)}))
pulumi.export("region", worker.location)
