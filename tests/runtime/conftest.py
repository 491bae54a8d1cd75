"""Real processes on 127.0.0.1 for the runtime tests, started once per session.

The signing key is generated into a pytest temporary directory, never into the repository.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.processes import Proc
from tests.runtime.helpers import OTHER_EMAIL, RELAY_EMAIL, Launcher, TokenForge, stats


@pytest.fixture(scope="session")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path_factory.mktemp("runtime"))
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="session")
def identity(launcher: Launcher) -> Proc:
    """The relay's metadata server: tokens for RELAY_EMAIL (the allowed invoker)."""
    return launcher.identity(RELAY_EMAIL, "identity", certs_max_age=300)


@pytest.fixture(scope="session")
def other_identity(launcher: Launcher, identity: Proc) -> Proc:
    """Same key file, another email: a Google-signed caller that is not allowed."""
    return launcher.identity(OTHER_EMAIL, "identity-other")


@pytest.fixture(scope="session")
def pubsub(launcher: Launcher, identity: Proc) -> Proc:
    """The dead-letter topic's publish API; only RELAY_EMAIL may publish (roles/pubsub.publisher)."""
    return launcher.pubsub(identity)


@pytest.fixture(scope="session")
def worker(launcher: Launcher, identity: Proc) -> Proc:
    return launcher.worker(identity.url + "/oauth2/v1/certs", "worker")


@pytest.fixture(scope="session")
def relay(launcher: Launcher, identity: Proc, worker: Proc, pubsub: Proc) -> Proc:
    return launcher.relay(worker.url, identity.url, "relay", pubsub)


@pytest.fixture(scope="session")
def forge(launcher: Launcher, identity: Proc) -> TokenForge:
    return TokenForge(launcher.key, stats(identity)["kid"])
