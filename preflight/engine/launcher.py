"""Start a Pulumi Python program against an engine, as the Pulumi CLI's Python language host does.

Executed by path on the program's own interpreter (`python -u launcher.py --monitor ADDR --engine ADDR
... PROGRAM`), never imported: it uses nothing but the standard library and the pulumi SDK the program
has, so the program sees its own packages. Like `pulumi-language-python-exec`, it reads the stack config
from PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS, configures the SDK with the monitor and engine addresses,
changes to the project directory and runs the entry point with `runpy` inside `run_in_stack`.

Unlike the CLI, which prints a failure as a diagnostic, it writes it to `--report FILE` as JSON — the
exception chain with each exception's frames and the resource or invoke the SDK was working on — so
preflight can name the cause, the program's file and line, and the resource.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import runpy
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

# Run by path, Python puts this file's directory first on sys.path; the program must not see it.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]

EXIT_REPORTED = 32
_MAX_PAUSE = float(os.environ.get("PREFLIGHT_MAX_PAUSE", "0.05"))
_MIN_PAUSE = 0.0005  # as the language host: the failure has been reported


def _write(path: str, report: dict) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    os.replace(temporary, path)


def _context(tb) -> dict:
    """The resource or invoke the SDK was handling where the exception passed (from its frames' locals)."""
    found: dict = {}
    while tb is not None:
        frame = tb.tb_frame
        filename = frame.f_code.co_filename.replace(os.sep, "/")
        if "/pulumi/" in filename:
            local = frame.f_locals
            ty, name, tok = local.get("ty"), local.get("name"), local.get("tok")
            if isinstance(ty, str) and isinstance(name, str) and "resource" not in found:
                found["resource"] = [ty, name]
            if isinstance(tok, str) and "invoke" not in found:
                found["invoke"] = tok
        tb = tb.tb_next
    return found


class _Origins:
    """Where exceptions started, noted when an asyncio task fails: an exception re-raised from a task by
    the SDK's shutdown can reach the top without the frames of the apply callback that raised it."""

    def __init__(self) -> None:
        self.frames: dict = {}
        self.by_text: dict = {}  # the SDK re-creates some exceptions, wrapping their message

    def task_factory(self, loop, coro, **kwargs):
        task = asyncio.Task(coro, loop=loop, **kwargs)
        task.add_done_callback(self._done)
        return task

    def _done(self, task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and id(exc) not in self.frames:
            origin = (exc, _frames(exc.__traceback__), _context(exc.__traceback__))
            self.frames[id(exc)] = origin
            self.by_text.setdefault(_text_key(exc), origin)

    def of(self, exc: BaseException) -> list:
        """Where `exc` passed through failing tasks, outermost first: its own task, then where an
        exception with its text started."""
        found = []
        own = self.frames.get(id(exc))
        if own is not None and own[0] is exc:
            found.append(own)
        first = self.by_text.get(_text_key(exc))
        if first is not None and first[0] is not exc:
            found.append(first)
        return found


def _text_key(exc: BaseException) -> tuple:
    # The SDK wraps an input's error as "While processing ...\nValueError has risen: <message>".
    lines = str(exc).strip().splitlines() or [""]
    return type(exc).__name__, lines[-1].split("has risen: ")[-1]


def _frames(tb) -> list:
    return [[f.filename, f.lineno, f.name] for f in traceback.extract_tb(tb)]


def _chain(exc: BaseException, run_error: type, origins: _Origins) -> list:
    """exc and what caused it, outermost first (the SDK re-raises errors `from` themselves)."""
    chain, seen = [], []
    current = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        frames, context = _frames(current.__traceback__), _context(current.__traceback__)
        for origin in origins.of(current):
            # Deeper than where `current` was re-raised: the innermost frames come last.
            frames, context = frames + origin[1], {**origin[2], **context}
        chain.append(
            {
                "type": type(current).__name__,
                "message": str(current),
                "frames": frames,
                "run_error": isinstance(current, run_error),
                "context": context,
            }
        )
        current = current.__cause__ or current.__context__
    return chain


class _QuietEngine:
    """The engine client, minus the SDK's debug chatter: one synchronous Log RPC per internal step costs
    more than the program itself, and the CLI shows them only with -v anyway."""

    def __init__(self, stub, debug: int) -> None:
        self._stub = stub
        self._debug = debug

    def Log(self, request, *args, **kwargs):
        if request.severity == self._debug:
            return None
        return self._stub.Log(request, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._stub, name)


def _engine(args):
    import grpc
    from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

    options = [("grpc.max_receive_message_length", 1 << 30), ("grpc.max_send_message_length", 1 << 30)]
    stub = engine_pb2_grpc.EngineStub(grpc.insecure_channel(args.engine, options=options))
    return _QuietEngine(stub, engine_pb2.DEBUG)


# Exceptions of cloud clients and of the network: an apply that calls a cloud API itself. A real preview has
# the user's credentials, preflight has none: what such a call would return cannot be known offline.
_CLOUD_MODULES = ("google.auth", "google.api_core", "googleapiclient", "google.cloud", "google.oauth2", "botocore",
                  "boto3", "azure", "requests", "urllib3", "httplib2", "httpx", "aiohttp")  # fmt: skip
COMPUTED_TOKEN = "preflight:internal:computedValues"  # noqa: S105 (an invoke token, not a secret)
UNKNOWN_APPLY_TOKEN = "preflight:internal:unknownApply"  # noqa: S105


def _cloud_call(exc: BaseException) -> bool:
    import socket

    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    return any(str(getattr(kind, "__module__", "")).startswith(_CLOUD_MODULES) for kind in type(exc).__mro__)


def _plain(value, depth: int = 0):
    """The callback's argument as JSON-safe data, for the engine to look into."""
    if depth > 32:
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class _UnknownApplies:
    """Known mode degrades like a preview: an apply callback that fails where a preview would not have run it
    gives an unknown output instead of stopping the program, and the engine is told which, where and why.

    A preview does not run a callback whose input is unknown there: a value the provider computes (an email, a
    URL, an id), which preflight's known mode makes up. So a callback that raises on an argument holding such a
    value (the engine says which values it computed), or that fails calling a cloud API for want of credentials
    or network (a preview with credentials would get an answer preflight cannot know), yields an unknown output.
    Any other exception is the program's own: a preview would raise it too, and it stops the run."""

    def __init__(self, pulumi, program_dir: str) -> None:
        self.pulumi = pulumi
        self.program_dir = os.path.abspath(program_dir)

    def install(self) -> None:
        output = self.pulumi.Output
        original = output.apply
        guard = self

        def apply(self, func, run_with_unknowns=False):
            return original(self, guard.wrap(self, func), run_with_unknowns)

        apply.__doc__ = original.__doc__
        output.apply = apply

    def wrap(self, source, func):
        def guarded(value):
            try:
                return func(value)
            except Exception as exc:
                why = self._why(exc, value)
                if why is None:
                    raise
                self._tell(source, func, exc, why)
                return self._unknown()

        return guarded

    def _why(self, exc: BaseException, value) -> str | None:
        if _cloud_call(exc):
            return "it calls a cloud API, which needs credentials preflight does not have"
        computed = self._ask(COMPUTED_TOKEN, {"value": _plain(value)}).get("computed") or []
        if computed:
            return f"its input holds {computed[0]}, which a preview does not know, so a preview would not run it"
        return None

    def _ask(self, token: str, args: dict) -> dict:
        from google.protobuf import json_format, struct_pb2
        from pulumi.runtime.proto import resource_pb2

        monitor = self.pulumi.runtime.settings.get_monitor()
        request = resource_pb2.ResourceInvokeRequest(tok=token)
        request.args.CopyFrom(json_format.ParseDict(args, struct_pb2.Struct()))
        response = monitor.Invoke(request)
        return json_format.MessageToDict(getattr(response, "return"))

    def _where(self, func) -> str:
        code = getattr(func, "__code__", None)
        if code is None:
            return getattr(func, "__qualname__", repr(func))
        path = os.path.abspath(code.co_filename)
        if path.startswith(self.program_dir + os.sep):
            path = os.path.relpath(path, self.program_dir)
        return f"{func.__qualname__} ({path}:{code.co_firstlineno})"

    def _tell(self, source, func, exc: BaseException, why: str) -> None:
        data = getattr(source, "_data", None)
        resources = data.result().resources if data is not None and data.done() and not data.exception() else set()
        names = sorted(f"{getattr(r, '_type', '?')} '{getattr(r, '_name', '?')}'" for r in resources)
        lines = str(exc).strip().splitlines()
        self._ask(
            UNKNOWN_APPLY_TOKEN,
            {
                "callback": self._where(func),
                "resources": names,
                "error": f"{type(exc).__name__}: {lines[-1] if lines else ''}".rstrip(": "),
                "why": why,
            },
        )

    def _unknown(self):
        loop = asyncio.get_event_loop()

        def done(value):
            future = loop.create_future()
            future.set_result(value)
            return future

        return self.pulumi.Output(set(), done(None), done(False), done(False))


def _settings(pulumi, args):
    values = {
        "monitor": args.monitor,
        "engine": _engine(args),
        "project": args.project,
        "stack": args.stack,
        "parallel": int(args.parallel),
        "dry_run": args.dry_run == "true",
        "organization": args.organization,
        "root_directory": args.root_directory,
    }
    # Older SDKs know fewer settings: pass what this one accepts.
    accepted = inspect.signature(pulumi.runtime.Settings.__init__).parameters
    return pulumi.runtime.Settings(**{k: v for k, v in values.items() if k in accepted})


async def _run_program(path: str) -> None:
    runpy.run_path(path, run_name="__main__")
    # Let the registrations the program scheduled start before the SDK's shutdown wait begins: it then
    # awaits them one by one. Otherwise it finds no RPC yet and waits on every pending output at once,
    # re-arming thousands of callbacks per reply: quadratic in the program's size.
    await asyncio.sleep(0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run a Pulumi Python program against an engine")
    for name in ("project", "root_directory", "stack", "parallel", "dry_run", "pwd", "monitor", "engine"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--organization", default="organization")
    parser.add_argument("--report", required=True, help="where to write a failure as JSON")
    parser.add_argument("PROGRAM")
    parser.add_argument("ARGS", nargs="*")
    return parser


def main() -> int:
    args = _parser().parse_args()
    try:
        import pulumi
        import pulumi.runtime
    except ImportError as exc:
        _write(args.report, {"kind": "no-sdk", "python": sys.executable, "message": str(exc)})
        return EXIT_REPORTED

    config = pulumi.runtime.get_config_env()
    if hasattr(pulumi.runtime, "set_all_config") and hasattr(pulumi.runtime, "get_config_secret_keys_env"):
        pulumi.runtime.set_all_config(config, pulumi.runtime.get_config_secret_keys_env())
    else:
        for key, value in config.items():
            pulumi.runtime.set_config(key, value)
    settings = _settings(pulumi, args)
    pulumi.runtime.configure(settings)
    if args.dry_run != "true":
        _UnknownApplies(pulumi, args.pwd or os.getcwd()).install()

    sys.argv = [args.PROGRAM, *args.ARGS]
    if args.pwd:
        os.chdir(args.pwd)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    origins = _Origins()
    loop.set_task_factory(origins.task_factory)
    executor = ThreadPoolExecutor(max_workers=max(int(args.parallel or 1), 1) * 4)
    loop.set_default_executor(executor)
    # A failed program leaves futures nobody awaits; asyncio's complaints about them are noise.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(lambda: _run_program(args.PROGRAM)))
        return 0
    except SystemExit as exc:
        _write(args.report, {"kind": "exit", "code": exc.code})
    except BaseException as exc:  # everything the program raises is reported, KeyboardInterrupt included
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        _write(args.report, {"kind": "exception", "chain": _chain(exc, pulumi.RunError, origins), "traceback": details})
    finally:
        executor.shutdown(wait=False)
        sys.stdout.flush()
        sys.stderr.flush()
    return EXIT_REPORTED


if __name__ == "__main__":
    # os._exit: threads a failed program left running must not keep the process alive.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
