"""One deserialisation per resource and analyzer call, instead of pulumi-policy's one per policy.

pulumi-policy's analyzer turns a resource's properties from protobuf into Python (`MessageToDict`, then
`deserialize_properties`, then a read-only `unknown_checking_proxy`) inside its loop over policies: in `Analyze`
once per resource policy for the same resource, in `AnalyzeStack` every resource once per stack policy. With
this pack's 29 policies that was most of the pack's time. `install()` keeps, for the length of one Analyze or
AnalyzeStack call, what the call has already turned into Python, and hands the next policy the same value behind
the same read-only proxy. Nothing outlives the call, so memory does not grow, and every policy receives what it
received before, value for value. `per_call` and `call_state` let the pack's adapter share its own work the
same way (plain properties, the stack model).

It replaces three names inside `pulumi_policy.policy`, wraps the servicer's two calls, and keeps per call the
resource options and provider resource the servicer builds from the same request for every policy; if a
pulumi-policy version lacks any of the first five, nothing is changed and the pack runs as before, only slower.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from typing import Any

_scope = threading.local()  # per gRPC worker thread: the call it is serving


def _cached(kind: str, compute: Callable[[Any], Any]) -> Callable[..., Any]:
    def lookup(value: Any, *args: Any, **kwargs: Any) -> Any:
        cache: dict[tuple[str, int], tuple[Any, Any]] | None = getattr(_scope, "cache", None)
        if cache is None or args or kwargs:
            return compute(value, *args, **kwargs)
        key = (kind, id(value))
        hit = cache.get(key)
        if hit is not None and hit[0] is value:  # the object itself is kept, so its id is not reused meanwhile
            return hit[1]
        result = compute(value)
        cache[key] = (value, result)
        return result

    return lookup


class _JsonFormat:
    """`json_format` as pulumi_policy.policy uses it, with MessageToDict cached within a call."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self.MessageToDict = _cached("dict", module.MessageToDict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _in_scope(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def scoped(self: Any, request: Any, context: Any) -> Any:
        outer = getattr(_scope, "cache", None), getattr(_scope, "state", None)
        _scope.cache, _scope.state = {}, {}
        try:
            return call(self, request, context)
        finally:
            _scope.cache, _scope.state = outer

    return scoped


def _per_request(kind: str, method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    @functools.wraps(method)
    def cached(self: Any, request: Any) -> Any:
        return _cached(kind, lambda r: method(self, r))(request)

    return cached


def call_state() -> dict[str, Any] | None:
    """A dict that lives as long as the analyzer call being served (None outside one, or if not installed):
    what a policy does once per call for all of them."""
    return getattr(_scope, "state", None)


def per_call(kind: str, value: Any, compute: Callable[[Any], Any]) -> Any:
    """`compute(value)`, once per analyzer call for the same object (every call when not installed)."""
    return _cached(kind, compute)(value)


def install() -> bool:
    """Cache deserialisation within each analyzer call; False (and nothing changed) if pulumi-policy differs."""
    try:
        sdk: Any = importlib.import_module("pulumi_policy.policy")  # its internals: typed loosely on purpose
    except ImportError:
        return False
    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    needed = ("json_format", "deserialize_properties", "unknown_checking_proxy")
    if servicer is None or not all(hasattr(sdk, n) for n in needed) or getattr(sdk, "_guardrails_cached", False):
        return bool(getattr(sdk, "_guardrails_cached", False))
    if not all(callable(getattr(servicer, n, None)) for n in ("Analyze", "AnalyzeStack")):
        return False
    sdk.json_format = _JsonFormat(sdk.json_format)
    sdk.deserialize_properties = _cached("deserialized", sdk.deserialize_properties)
    sdk.unknown_checking_proxy = _cached("proxy", sdk.unknown_checking_proxy)
    if callable(getattr(sdk, "signature", None)):
        # Each call re-reads `inspect.signature(pulumi.runtime.Settings)` to configure the runtime: it never changes.
        sdk.signature = functools.lru_cache(maxsize=8)(sdk.signature)
    for name in ("_get_resource_options", "_get_provider_resource"):
        # Read-only objects built from the same request for every policy of the call.
        original = getattr(servicer, name, None)
        if callable(original):
            setattr(servicer, name, _per_request(name, original))
    servicer.Analyze = _in_scope(servicer.Analyze)
    servicer.AnalyzeStack = _in_scope(servicer.AnalyzeStack)
    sdk._guardrails_cached = True  # marks the module patched, once
    return True
