import pulumi
import pulumi_gcp as gcp

account = gcp.serviceaccount.Account("reporter", account_id="reporter")
topic = gcp.pubsub.Topic("reports")
project = gcp.organizations.get_project()
pulumi.export("email", account.email)
pulumi.export("topic", topic.id)
pulumi.export("project_number", project.number)
