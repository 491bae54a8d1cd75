"""Shapes met in public programs: an API Gateway calling its Cloud Run backend as its own account (accepted;
the same account on a service its OpenAPI document never names is rejected), custom roles granted by their
`name` output (a folder or project grant of one that changes IAM is rejected, a harmless one accepted), and a
log sink's writer identity trusted on one dataset (accepted)."""

import base64

import pulumi
import pulumi_gcp as gcp

PROJECT = "si-pack-1234"


def service(name: str, account: gcp.serviceaccount.Account) -> gcp.cloudrunv2.Service:
    return gcp.cloudrunv2.Service(
        name,
        name=name,
        location="us-central1",
        ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
        deletion_protection=False,
        labels={"app": "t"},
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=account.email,
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(image="us-docker.pkg.dev/cloudrun/container/hello")
            ],
        ),
    )


def openapi(backend: str) -> str:
    document = f"""swagger: "2.0"
info: {{title: orders, version: "1"}}
schemes: [https]
produces: [application/json]
x-google-backend:
  address: {backend}
  deadline: 30.0
paths:
  /orders:
    get:
      operationId: listOrders
      responses: {{"200": {{description: ok}}}}
"""
    return base64.b64encode(document.encode()).decode()


def invoker(name: str, target: gcp.cloudrunv2.Service, account: gcp.serviceaccount.Account) -> None:
    gcp.cloudrunv2.ServiceIamMember(
        name, name=target.name, location="us-central1", role="roles/run.invoker", member=account.member
    )


orders_sa = gcp.serviceaccount.Account("orders", account_id="orders-runtime")
ledger_sa = gcp.serviceaccount.Account("ledger", account_id="ledger-runtime")
gateway_sa = gcp.serviceaccount.Account("gateway", account_id="orders-gateway")
orders = service("orders", orders_sa)
ledger = service("ledger", ledger_sa)

api = gcp.apigateway.Api("orders-api", api_id="orders-api")
config = gcp.apigateway.ApiConfig(
    "orders-api-config",
    api=api.api_id,
    openapi_documents=[
        gcp.apigateway.ApiConfigOpenapiDocumentArgs(
            document=gcp.apigateway.ApiConfigOpenapiDocumentDocumentArgs(
                path="openapi.yaml", contents=orders.uri.apply(openapi)
            )
        )
    ],
    gateway_config=gcp.apigateway.ApiConfigGatewayConfigArgs(
        backend_config=gcp.apigateway.ApiConfigGatewayConfigBackendConfigArgs(google_service_account=gateway_sa.email)
    ),
)
gcp.apigateway.Gateway("orders-gateway", api_config=config.id, gateway_id="orders-gateway", region="us-central1")

# accepted: the gateway's account invokes the backend its OpenAPI document names
invoker("accept-gateway-invokes-backend", orders, gateway_sa)
# rejected: the same account on a service no document of the gateway names
invoker("reject-gateway-invokes-ledger", ledger, gateway_sa)

# Custom roles granted by their `name` output, as programs write it.
repo_iam = gcp.organizations.IAMCustomRole(
    "reject-repo-iam-role",
    org_id="123456789012",
    role_id="repoIamEditor",
    title="Repository IAM editor",
    permissions=["artifactregistry.repositories.getIamPolicy", "artifactregistry.repositories.setIamPolicy"],
)
gcp.folder.IAMMember(
    "reject-folder-grant-by-name", folder="folders/234567890123", role=repo_iam.name, member=orders_sa.member
)
reader = gcp.projects.IAMCustomRole(
    "accept-service-reader-role",
    role_id="serviceReader",
    title="Cloud Run service reader",
    permissions=["run.services.get", "run.services.list"],
)
gcp.projects.IAMMember("accept-project-grant-by-name", project=PROJECT, role=reader.name, member=ledger_sa.member)

# A log sink into one dataset, and its writer identity trusted on that dataset only.
logs = gcp.bigquery.Dataset("logs", dataset_id="run_logs", location="US", labels={"app": "t"})
sink = gcp.logging.ProjectSink(
    "run-logs",
    destination=pulumi.Output.concat("bigquery.googleapis.com/projects/", PROJECT, "/datasets/", logs.dataset_id),
    filter="resource.type=cloud_run_revision",
    unique_writer_identity=True,
)
gcp.bigquery.DatasetIamMember(
    "accept-sink-writes-dataset",
    dataset_id=logs.dataset_id,
    role="roles/bigquery.dataEditor",
    member=sink.writer_identity,
)
