"""A Cloud Run service (v1 and v2) reaching a Cloud SQL instance through its connection name."""

import pulumi
import pulumi_gcp as gcp

config = pulumi.Config()
db_name = config.require("dbName")

instance = gcp.sql.DatabaseInstance(
    "orders-db",
    database_version="POSTGRES_15",
    deletion_protection=False,
    settings={"tier": "db-f1-micro"},
)
gcp.sql.Database("orders", instance=instance.name, name=db_name)
gcp.sql.User("app", instance=instance.name, name="app", password=config.require_secret("dbPassword"))

runtime = gcp.serviceaccount.Account("orders-api", account_id="orders-api")

# The shape public programs use: the connection name joined into a string inside an apply.
database_url = pulumi.Output.all(instance.connection_name, instance.private_ip_address).apply(
    lambda args: "".join(["postgresql://app@", args[1], "/", db_name, "?host=/cloudsql/", args[0]])
)

api = gcp.cloudrun.Service(
    "orders-api",
    location="europe-west1",
    template={
        "metadata": {"annotations": {"run.googleapis.com/cloudsql-instances": instance.connection_name}},
        "spec": {
            "service_account_name": runtime.email,
            "containers": [
                {
                    "image": "europe-docker.pkg.dev/shop/api/orders:1",
                    "envs": [{"name": "DATABASE_URL", "value": database_url}],
                }
            ],
        },
    },
)
worker = gcp.cloudrunv2.Service(
    "orders-worker",
    location="europe-west1",
    deletion_protection=False,
    template={
        "service_account": runtime.email,
        "containers": [{"image": "europe-docker.pkg.dev/shop/api/worker:1"}],
        "volumes": [{"name": "cloudsql", "cloud_sql_instance": {"instances": [instance.connection_name]}}],
    },
)

pulumi.export("connection_name", instance.connection_name)
pulumi.export("database_url", database_url)
pulumi.export("api_url", api.statuses.apply(lambda statuses: statuses[0].url))
pulumi.export("worker_url", worker.uri)
pulumi.export("first_ip", instance.ip_addresses.apply(lambda addresses: addresses[0].ip_address))
