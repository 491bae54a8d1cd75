"""Reusable ComponentResources for event-driven functions that call private Cloud Run services."""

from secure_invoke.components.access_audit import AccessAudit, AccessAuditArgs
from secure_invoke.components.callers import (
    Caller,
    CallerEnv,
    PushCall,
    QueuedCall,
    ScheduledCall,
    WorkflowCall,
)
from secure_invoke.components.dead_letter import DeadLetterTopic, DeadLetterTopicArgs
from secure_invoke.components.event_function import EventFunction, EventFunctionArgs, VpcEgress, pubsub_agent
from secure_invoke.components.identity import Condition, ScopedRole, ServiceIdentity, ServiceIdentityArgs, grant
from secure_invoke.components.operator_access import OperatorAccess, OperatorAccessArgs, TimeBoundGrant
from secure_invoke.components.private_service import (
    CPU_BELOW_ONE,
    PrivateService,
    PrivateServiceArgs,
    secret_file_path,
)
from secure_invoke.components.rotated_secret import RotatedSecret, RotatedSecretArgs
from secure_invoke.components.sources import directory_digest, source_files
from secure_invoke.components.worker_image import WorkerImage, WorkerImageArgs

__all__ = [
    "CPU_BELOW_ONE",
    "AccessAudit",
    "AccessAuditArgs",
    "Caller",
    "CallerEnv",
    "Condition",
    "DeadLetterTopic",
    "DeadLetterTopicArgs",
    "EventFunction",
    "EventFunctionArgs",
    "OperatorAccess",
    "OperatorAccessArgs",
    "PrivateService",
    "PrivateServiceArgs",
    "PushCall",
    "QueuedCall",
    "RotatedSecret",
    "RotatedSecretArgs",
    "ScheduledCall",
    "ScopedRole",
    "ServiceIdentity",
    "ServiceIdentityArgs",
    "TimeBoundGrant",
    "VpcEgress",
    "WorkerImage",
    "WorkerImageArgs",
    "WorkflowCall",
    "directory_digest",
    "grant",
    "pubsub_agent",
    "secret_file_path",
    "source_files",
]
