"""`grants_of`: who may do what on which resource, from IAM member, binding and policy resources of real runs."""

from pathlib import Path

from secure_invoke.preflight.engine.program import run_program
from secure_invoke.preflight.report.grants import grants_of

PROGRAMS = Path(__file__).parent / "programs"

BASIC = PROGRAMS / "basic"


def test_grants_from_members_bindings_and_policies():
    run = run_program(PROGRAMS / "iam_variants", "dev")
    grants = grants_of(run.resources)
    caller = "serviceAccount:caller@iam-project.iam.gserviceaccount.com"
    assert sorted(grants) == sorted(
        [
            (caller, "roles/logging.logWriter", "project iam-project"),
            (caller, "roles/storage.objectViewer", "storage/bucket artifacts"),
            ("group:ops@example.com", "roles/storage.objectViewer", "storage/bucket artifacts"),
            (
                "serviceAccount:a@x.iam.gserviceaccount.com",
                "roles/secretmanager.secretAccessor",
                "secretmanager/secret api-key",
            ),
        ]
    )
    assert next(g for g in grants if g.role.startswith("roles/secret")).urn.endswith(
        "gcp:secretmanager/secretIamPolicy:SecretIamPolicy::secret-policy"
    )


def test_basic_program_grants():
    grants = grants_of(run_program(BASIC, "dev").resources)
    assert ("serviceAccount:p1-sa@demo-project.iam.gserviceaccount.com", "roles/run.invoker") in [
        (g.member, g.role) for g in grants
    ]
    publisher = next(g for g in grants if g.role == "roles/pubsub.publisher")
    assert publisher.member.endswith("@gcp-sa-secretmanager.iam.gserviceaccount.com")
