"""The pulumi SDK surface preflight relies on: when a pulumi or pulumi-policy upgrade moves it, this fails
first, naming what moved, instead of preflight misbehaving somewhere downstream."""

import inspect
from importlib.metadata import version

import pulumi.runtime
from pulumi.runtime.proto import analyzer_pb2, engine_pb2_grpc, resource_pb2, resource_pb2_grpc


def test_pinned_versions():
    # preflight was written against these; read preflight/README.md and rerun this suite before changing them.
    assert version("pulumi") == "3.272.0"
    assert version("pulumi-policy") == "1.21.0"
    assert version("pulumi-gcp") == "10.2.0"


def test_what_the_launcher_calls_as_the_language_host_does():
    for name in ("get_config_env", "get_config_secret_keys_env", "set_all_config", "configure", "run_in_stack"):
        assert callable(getattr(pulumi.runtime, name, None)), f"pulumi.runtime.{name} moved"
    parameters = inspect.signature(pulumi.runtime.Settings).parameters
    assert {"monitor", "engine", "project", "stack", "parallel", "dry_run", "organization"} <= set(parameters)


def test_the_services_preflight_serves():
    monitor = {m.name for m in resource_pb2.DESCRIPTOR.services_by_name["ResourceMonitor"].methods}
    assert monitor >= {"RegisterResource", "RegisterResourceOutputs", "ReadResource", "Invoke", "Call"}
    assert monitor >= {"SupportsFeature", "GetDeploymentInfo", "SignalAndWaitForShutdown"}
    assert callable(resource_pb2_grpc.add_ResourceMonitorServicer_to_server)
    assert callable(engine_pb2_grpc.add_EngineServicer_to_server)


def test_protocol_fields():
    fields = {f.name for f in resource_pb2.RegisterResourceRequest.DESCRIPTOR.fields}
    assert fields >= {"type", "name", "parent", "custom", "object", "dependencies", "propertyDependencies", "provider"}
    assert fields >= {"sourcePosition", "remote", "importId", "version"}
    # A read whose result is unknown: how a StackReference without its outputs resolves them as unknown.
    assert "unknown" in {f.name for f in resource_pb2.ReadResourceResponse.DESCRIPTOR.fields}
    stack_fields = {f.name for f in analyzer_pb2.AnalyzerResource.DESCRIPTOR.fields}
    assert stack_fields >= {"parent", "dependencies", "propertyDependencies", "provider", "properties"}
    assert "ConfigureStack" in analyzer_pb2.DESCRIPTOR.services_by_name["Analyzer"].methods_by_name
