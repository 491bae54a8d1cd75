import pulumi_gcp as gcp

account = gcp.serviceaccount.Account("ci", account_id="ci-deployer")
gcp.serviceaccount.Key("ci-key", service_account_id=account.name)
