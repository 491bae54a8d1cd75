import pulumi_gcp as gcp

# An authoritative policy built from an invoke: the basic role hides inside policyData JSON.
admins = gcp.organizations.get_iam_policy(bindings=[{"role": "roles/editor", "members": ["group:admins@example.com"]}])
gcp.projects.IAMPolicy("project-policy", project="pf-basic-role-policy", policy_data=admins.policy_data)
