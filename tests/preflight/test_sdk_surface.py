"""The private SDK surface preflight relies on: when a pulumi or pulumi-policy upgrade moves it, this
fails first, naming what moved, instead of preflight misbehaving somewhere downstream."""

from contextvars import ContextVar
from importlib.metadata import version

from pulumi.runtime import mocks, settings
from pulumi.runtime.proto import analyzer_pb2, resource_pb2
from pulumi.runtime.stack import Stack, run_pulumi_func


def test_pinned_versions():
    # preflight was written against these; read DESIGN §5 and rerun this suite before changing them.
    assert version("pulumi") == "3.272.0"
    assert version("pulumi-policy") == "1.21.0"
    assert version("pulumi-gcp") == "10.2.0"


def test_runtime_internals():
    assert isinstance(getattr(settings, "ROOT", None), ContextVar), "pulumi.runtime.settings.ROOT moved"
    for name in ("_finish", "_take_async_program", "_add_program_outputs"):
        assert callable(getattr(Stack, name, None)), f"pulumi.runtime.stack.Stack.{name} moved"
    assert callable(run_pulumi_func)
    for name in ("RegisterResource", "ReadResource", "RegisterResourceOutputs", "Invoke", "make_urn"):
        assert callable(getattr(mocks.MockMonitor, name, None)), f"MockMonitor.{name} moved"
    assert "monitor" in mocks.set_mocks.__code__.co_varnames


def test_protocol_fields():
    fields = {f.name for f in resource_pb2.RegisterResourceRequest.DESCRIPTOR.fields}
    assert fields >= {"type", "name", "parent", "custom", "object", "dependencies", "propertyDependencies", "provider"}
    stack_fields = {f.name for f in analyzer_pb2.AnalyzerResource.DESCRIPTOR.fields}
    assert stack_fields >= {"parent", "dependencies", "propertyDependencies", "provider", "properties"}
    assert "ConfigureStack" in analyzer_pb2.DESCRIPTOR.services_by_name["Analyzer"].methods_by_name
