"""The main program's stacks the CI bootstrap lists (`environments` of its stack file), as CI iterates them:
`.ci/run` previews each and runs its deployer check, and so do the pull-request workflow's matrix jobs.

    python bootstrap/environments.py [--json] [--stack github]

One name per line, or with `--json` one JSON list (a GitHub Actions matrix). The config is read and checked as
the bootstrap reads it (each environment's stack file included): a broken one is a one-line error, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bootstrap_settings import NAMESPACE, settings_of

from secure_invoke.settings import ConfigError, read_stack_file

BOOTSTRAP = Path(__file__).resolve().parent


def environments(stack: str = "github") -> list[str]:
    config, _ = read_stack_file(BOOTSTRAP / f"Pulumi.{stack}.yaml", NAMESPACE)
    return [environment.name for environment in settings_of(config).environments]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bootstrap/environments.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON list instead of one name per line")
    parser.add_argument("--stack", default="github", help="the bootstrap stack")
    args = parser.parse_args(argv)
    try:
        names = environments(args.stack)
    except (ConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(names) if args.json else "\n".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
