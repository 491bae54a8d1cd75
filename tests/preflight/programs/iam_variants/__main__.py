import pulumi_gcp as gcp

caller = gcp.serviceaccount.Account("caller", account_id="caller")
gcp.projects.IAMMember("log-writer", project="iam-project", role="roles/logging.logWriter", member=caller.member)
gcp.storage.BucketIAMBinding(
    "readers",
    bucket="artifacts",
    role="roles/storage.objectViewer",
    members=[caller.member, "group:ops@example.com"],
)
policy = gcp.organizations.get_iam_policy(
    bindings=[{"role": "roles/secretmanager.secretAccessor", "members": ["serviceAccount:a@x.iam.gserviceaccount.com"]}]
)
gcp.secretmanager.SecretIamPolicy("secret-policy", secret_id="api-key", policy_data=policy.policy_data)
