"""Invokes as public programs use them; and proof the program runs in a process of its own."""

import os
import sys

import pulumi
import pulumi_gcp as gcp

# Nothing of preflight is loaded here, and the program's directory comes first on its path.
if any(name == "secure_invoke.preflight" or name.startswith("secure_invoke.preflight.") for name in sys.modules):
    raise RuntimeError("preflight's modules are loaded in the program's process")
if os.path.realpath(sys.path[0]) != os.path.realpath(os.path.dirname(__file__)):
    raise RuntimeError(f"sys.path[0] is {sys.path[0]}, not the program directory")

projects = gcp.projects.get_project(filter="name:fn-*")
client = gcp.organizations.get_client_config()
policy = gcp.organizations.get_iam_policy(bindings=[{"role": "roles/viewer", "members": ["group:ops@example.com"]}])
compute = gcp.compute.get_default_service_account()
encoded = pulumi.runtime.invoke("std:index:base64encode", {"input": "hello preflight"}).value
digest = pulumi.runtime.invoke("std:index:sha256", {"input": "hello preflight"}).value

gcp.projects.IAMPolicy("project-policy", project=client.project, policy_data=policy.policy_data)

pulumi.export("first_project", projects.projects[0].project_id)
pulumi.export("region", client.region)
pulumi.export("policy_data", policy.policy_data)
pulumi.export("compute_email", compute.email)
pulumi.export("base64", encoded["result"])
pulumi.export("sha256", digest["result"])
pulumi.export("pid", os.getpid())
