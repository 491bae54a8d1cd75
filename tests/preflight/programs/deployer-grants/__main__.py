"""A bootstrap-like program: the grants of a CI deployer `ci-deployer@pf-deployer`, recorded with `--json` and
given to the deployer check of `deployer-app` as `--stack-reference ci=FILE`. `case` picks the condition on
its storage.admin grant:

- `exact`: none — storage.admin on the project;
- `this-bucket`: `resource.name.startsWith("projects/_/buckets/pf-deployer-")` — covers the app's bucket;
- `other-buckets`: `resource.name.startsWith("projects/_/buckets/other-")` — covers none of the app's;
- `expired`: `request.time < timestamp("2020-01-01T00:00:00Z")`.
Also the APIs the app's project has enabled (storage and resource manager), and a previewer with roles/browser.
"""

import pulumi
import pulumi_gcp as gcp

case = pulumi.Config().require("case")
project = "pf-deployer"
deployer = gcp.serviceaccount.Account("ci-deployer", account_id="ci-deployer")
previewer = gcp.serviceaccount.Account("ci-previewer", account_id="ci-previewer")
conditions = {
    "this-bucket": 'resource.name.startsWith("projects/_/buckets/pf-deployer-")',
    "other-buckets": 'resource.name.startsWith("projects/_/buckets/other-")',
    "expired": 'request.time < timestamp("2020-01-01T00:00:00Z")',
}
gcp.projects.IAMMember(
    "deployer-storage-admin",
    project=project,
    role="roles/storage.admin",
    member=deployer.member,
    condition={"title": case, "expression": conditions[case]} if case in conditions else None,
)
gcp.projects.IAMMember("previewer-browser", project=project, role="roles/browser", member=previewer.member)
for api in ("storage", "cloudresourcemanager"):
    gcp.projects.Service(f"{api}-api", project=project, service=f"{api}.googleapis.com", disable_on_destroy=False)
pulumi.export("deployer_email", deployer.email)
pulumi.export("previewer_email", previewer.email)
