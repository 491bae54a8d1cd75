import pulumi
import pulumi_gcp as gcp
from helpers import MARKER

provider = gcp.Provider("explicit", project="provider-project", region="us-east1")
account = gcp.serviceaccount.Account("runner", account_id="runner", opts=pulumi.ResourceOptions(provider=provider))
pulumi.export("marker", MARKER)
pulumi.export("email", account.email)
