"""What a schema cannot say: rules across keys (Cloud Run's CPU, memory and concurrency pairs, timeouts that
must nest) and per tier (what production insists on, whatever the environment is called). Run only once every
single value is valid."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Cloud Run's rule, as the PrivateService component enforces it on its own args.
from secure_invoke.components import CPU_BELOW_ONE
from secure_invoke.settings.schema import NAMESPACE, value_or_default

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_RESERVED_LABELS = {"app", "environment"}


def _mebibytes(size: str) -> int:
    number, unit = int(size[:-2]), size[-2:]
    return number * 1024 if unit == "Gi" else number


# Cloud Run's documented CPU/memory pairs: (memory above, in MiB) → minimum vCPU, and vCPU → minimum memory.
_MIN_CPU_FOR_MEMORY = ((24 * 1024, 8.0), (16 * 1024, 6.0), (8 * 1024, 4.0), (4 * 1024, 2.0))
_MIN_MEMORY_FOR_CPU = {"4": 2 * 1024, "8": 4 * 1024}
_MAX_MEMORY = 32 * 1024
_MIN_MEMORY = 128


def _memory_errors(cpu: str, memory: str, relay_memory: str) -> list[str]:
    p = NAMESPACE + ":"
    errors: list[str] = []
    mib = _mebibytes(memory)
    if not _MIN_MEMORY <= mib <= _MAX_MEMORY:
        errors.append(f"{p}workerMemory: {memory} is outside Cloud Run's 128Mi..32Gi")
    elif float(cpu) < 1 and mib >= 1024:
        errors.append(f"{p}workerMemory: {memory} needs at least 1 vCPU ({p}workerCpu={cpu}); use less than 1Gi")
    else:
        for above, min_cpu in _MIN_CPU_FOR_MEMORY:
            if mib > above and float(cpu) < min_cpu:
                errors.append(
                    f"{p}workerCpu: Cloud Run needs at least {min_cpu:g} vCPU for more than {above // 1024}Gi "
                    f"of memory ({p}workerMemory={memory})"
                )
                break
        if mib < _MIN_MEMORY_FOR_CPU.get(cpu, 0):
            errors.append(
                f"{p}workerMemory: {cpu} vCPU needs at least {_MIN_MEMORY_FOR_CPU[cpu] // 1024}Gi (got {memory})"
            )
    if not _MIN_MEMORY <= _mebibytes(relay_memory) <= _MAX_MEMORY:
        errors.append(f"{p}relayMemory: {relay_memory} is outside Cloud Functions' 128Mi..32Gi")
    return errors


def combination_errors(values: Mapping[str, Any]) -> list[str]:
    """Rules across keys and per tier. Runs only once every single value is valid."""
    p = NAMESPACE + ":"

    def get(key: str) -> Any:
        return value_or_default(values, key)

    errors: list[str] = []
    if get("workerMinInstances") > get("workerMaxInstances"):
        errors.append(
            f"{p}workerMinInstances: {get('workerMinInstances')} exceeds {p}workerMaxInstances "
            f"({get('workerMaxInstances')}); min must be <= max"
        )
    if ("vpcNetwork" in values) != ("vpcSubnetwork" in values):
        missing = "vpcSubnetwork" if "vpcNetwork" in values else "vpcNetwork"
        errors.append(f"{p}{missing}: required together with {p}vpcNetwork and {p}vpcSubnetwork")
    if get("workerIngress") == "internal" and "vpcNetwork" not in values:
        errors.append(
            f"{p}workerIngress: 'internal' needs the relay to egress through a VPC; set {p}vpcNetwork and "
            f"{p}vpcSubnetwork (a subnet with Private Google Access), or use 'all' with IAM as the gate"
        )
    if get("workerCpu") in CPU_BELOW_ONE and get("workerConcurrency") != 1:
        errors.append(
            f"{p}workerConcurrency: Cloud Run forces concurrency 1 below 1 vCPU ({p}workerCpu="
            f"{get('workerCpu')}); set it to 1 or raise {p}workerCpu to at least 1"
        )
    errors += _memory_errors(get("workerCpu"), get("workerMemory"), get("relayMemory"))
    reserved = sorted(set(get("labels")) & _RESERVED_LABELS)
    if reserved:
        verb, pronoun = ("is", "it") if len(reserved) == 1 else ("are", "them")
        errors.append(f"{p}labels: {', '.join(reserved)} {verb} set by the stack itself; remove {pronoun}")
    if get("relayWorkerTimeoutSeconds") >= get("relayTimeoutSeconds"):
        errors.append(
            f"{p}relayWorkerTimeoutSeconds: {get('relayWorkerTimeoutSeconds')} must be below "
            f"{p}relayTimeoutSeconds ({get('relayTimeoutSeconds')}), so a slow worker fails the call, "
            "not the whole function"
        )
    if get("relayTimeoutSeconds") > get("workerRequestTimeoutSeconds"):
        errors.append(
            f"{p}relayTimeoutSeconds: {get('relayTimeoutSeconds')} exceeds {p}workerRequestTimeoutSeconds "
            f"({get('workerRequestTimeoutSeconds')}); the worker must outlive the call that waits for it"
        )
    if get("operatorAlertChannels") and values["tier"] != "production":
        errors.append(
            f"{p}operatorAlertChannels: only tier production alerts on operator token mints; remove the channels "
            f"or set {p}tier to production"
        )
    if values["tier"] == "production":
        image = values.get("workerImage")
        if image is not None and not _DIGEST.search(image):
            errors.append(
                f"{p}workerImage: tier production needs an image pinned by digest (…@sha256:<64 hex>), got {image!r}"
            )
        if get("workerMinInstances") < 1:
            errors.append(
                f"{p}workerMinInstances: tier production keeps at least 1 warm instance "
                f"(got {get('workerMinInstances')})"
            )
        if not get("deletionProtection"):
            errors.append(f"{p}deletionProtection: tier production must keep deletion protection on (true)")
        if not get("workerStartupCpuBoost"):
            errors.append(f"{p}workerStartupCpuBoost: tier production must keep startup CPU boost on (true)")
    return errors
