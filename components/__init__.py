"""Reusable ComponentResources for event-driven functions that call private Cloud Run services."""

from components.access_audit import AccessAudit, AccessAuditArgs
from components.dead_letter import DeadLetterTopic, DeadLetterTopicArgs
from components.event_function import EventFunction, EventFunctionArgs, VpcEgress
from components.identity import Condition, ScopedRole, ServiceIdentity, ServiceIdentityArgs
from components.operator_access import OperatorAccess, OperatorAccessArgs, TimeBoundGrant
from components.private_service import CPU_BELOW_ONE, PrivateService, PrivateServiceArgs
from components.rotated_secret import RotatedSecret, RotatedSecretArgs
from components.sources import directory_digest, source_files
from components.worker_image import WorkerImage, WorkerImageArgs

__all__ = [
    "CPU_BELOW_ONE",
    "AccessAudit",
    "AccessAuditArgs",
    "Condition",
    "DeadLetterTopic",
    "DeadLetterTopicArgs",
    "EventFunction",
    "EventFunctionArgs",
    "OperatorAccess",
    "OperatorAccessArgs",
    "PrivateService",
    "PrivateServiceArgs",
    "RotatedSecret",
    "RotatedSecretArgs",
    "ScopedRole",
    "ServiceIdentity",
    "ServiceIdentityArgs",
    "TimeBoundGrant",
    "VpcEgress",
    "WorkerImage",
    "WorkerImageArgs",
    "directory_digest",
    "source_files",
]
