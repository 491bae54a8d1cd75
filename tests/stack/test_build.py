"""`stack.build(settings)` called as a function under the SDK's own unit-test mocks (`pulumi.runtime.set_mocks`):
it takes everything from its argument and returns the outputs `__main__.py` exports — the names the README's
`pulumi stack output ...` commands read."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

import stack
from secure_invoke.settings import Settings
from tests.stack.cases import STACKS, settings_of

PROJECT_NUMBER = "123456789012"


class GoogleMocks(pulumi.runtime.Mocks):
    """Echoes inputs, and answers the few computed outputs the stack exports the way Google would."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "gcp:serviceaccount/account:Account":
            state["email"] = f"{args.inputs['accountId']}@{args.inputs['project']}.iam.gserviceaccount.com"
        elif args.typ == "gcp:cloudrunv2/service:Service":
            state["uri"] = f"https://{args.inputs['name']}-{PROJECT_NUMBER}.{args.inputs['location']}.run.app"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": PROJECT_NUMBER}, []
        return {}, []


def resolved(outputs: dict[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    names = sorted(outputs)
    return pulumi.Output.all(*(outputs[n] for n in names)).apply(lambda values: dict(zip(names, values, strict=True)))


@pytest.mark.parametrize("stack_name", STACKS)
def test_build_returns_the_stack_outputs_from_the_settings_alone(stack_name: str) -> None:
    # No stack config is set: a different project and stack name than the settings' own prove `build` reads none.
    pulumi.runtime.set_mocks(GoogleMocks(), project="unit", stack="unit", preview=False)
    cfg: Settings = settings_of(stack_name)
    env, project, region = cfg.environment, cfg.project, cfg.region
    sa = f"{env}@{project}.iam.gserviceaccount.com"

    @pulumi.runtime.test
    def check() -> pulumi.Output[None]:
        def assert_outputs(outputs: dict[str, str]) -> None:
            assert outputs == {
                "worker_url": f"https://worker-{env}-{PROJECT_NUMBER}.{region}.run.app",
                "worker_audience": cfg.worker_audience,
                "jobs_topic": "jobs-id",
                "dead_letter_topic": f"projects/{project}/topics/jobs-{env}-dead",
                "dead_letter_subscription": f"jobs-{env}-dead",
                "relay_function": f"relay-{env}",
                "relay_runtime_email": f"relay-runtime-{sa}",
                "relay_trigger_email": f"relay-trigger-{sa}",
                "relay_build_email": f"relay-build-{sa}",
                "worker_runtime_email": f"worker-runtime-{sa}",
                "worker_operator_email": f"worker-operator-{sa}",
                "invoker_grant": f"serviceAccount:relay-runtime-{sa} → roles/run.invoker → worker-{env}",
            }

        return resolved(stack.build(cfg)).apply(assert_outputs)

    check()
