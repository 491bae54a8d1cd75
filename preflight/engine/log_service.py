"""The Engine gRPC service (`pulumi.runtime.proto` Engine) programs and policy packs log to."""

from __future__ import annotations

import threading
from typing import Any

from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

# As the CLI names severities in its diagnostics.
_SEVERITY = {
    engine_pb2.DEBUG: "debug",
    engine_pb2.INFO: "info",
    engine_pb2.WARNING: "warning",
    engine_pb2.ERROR: "error",
}


class Engine(engine_pb2_grpc.EngineServicer):
    """Keeps what is logged as `<severity>: <message>` lines, and the root resource."""

    def __init__(self, root_urn: str) -> None:
        self.root_urn = root_urn
        self.logs: list[str] = []
        self._lock = threading.Lock()

    def Log(self, request: Any, context: Any) -> Any:
        severity = _SEVERITY.get(request.severity, "info")
        with self._lock:
            self.logs.append(f"{severity}: {request.message}")
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:
        return engine_pb2.GetRootResourceResponse(urn=self.root_urn)

    def SetRootResource(self, request: Any, context: Any) -> Any:
        if request.urn:
            self.root_urn = request.urn
        return engine_pb2.SetRootResourceResponse()

    def RequirePulumiVersion(self, request: Any, context: Any) -> Any:
        # There is no CLI version to compare with: accept every range, as an up-to-date CLI would.
        return engine_pb2.RequirePulumiVersionResponse()
