"""A `Pulumi.<stack>.yaml` read as the Pulumi CLI hands it to a program: a flat map of `namespace:key` to text,
and the keys stored as secrets. For programs that read another program's stack (the CI bootstrap reads the main
stack's) and for tests; a running program gets the same map from the engine (`settings.load`)."""

from __future__ import annotations

from pathlib import Path

from secure_invoke import stack_yaml
from secure_invoke.settings.keys import ConfigError

# `secure:` values are encrypted with the stack's secrets provider; they cannot be read here.
SECRET_PLACEHOLDER = "[secret value not decrypted]"  # noqa: S105 (a marker, not a secret)


def read_stack_file(path: Path, project: str) -> tuple[dict[str, str], set[str]]:
    """(config, secret keys) of the stack file at `path`, for the Pulumi project named `project` (bare keys are
    in its namespace). Raises ConfigError naming the file when it is missing or not a stack file."""
    try:
        doc = stack_yaml.load(path)
    except OSError as err:
        raise ConfigError(f"{path.name}: cannot read ({err.strerror})") from err
    except stack_yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError(f"{path.name}{f' line {mark.line + 1}' if mark else ''}: invalid YAML") from err
    raw = (doc or {}).get("config") or {} if isinstance(doc, dict) else None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: `config` must be a mapping of keys to values")
    config: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in raw.items():
        full = key if ":" in str(key) else f"{project}:{key}"
        if stack_yaml.has_secure(value):
            secret_keys.add(full)
        config[full] = stack_yaml.encode_value(stack_yaml.with_placeholders(value, SECRET_PLACEHOLDER))
    return config, secret_keys
