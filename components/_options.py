"""Resource options shared by the components."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi


def inherited_depends_on(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """A component's own `depends_on`, to pass on to the children that must honour it.

    The SDK records a component's `depends_on` on the component only; its children would not wait.
    """
    if opts is None or opts.depends_on is None:
        return []
    deps = opts.depends_on
    if isinstance(deps, pulumi.Resource):
        return [deps]
    if isinstance(deps, Sequence):
        return [d for d in deps if isinstance(d, pulumi.Resource)]
    raise TypeError("components take depends_on as a resource or a list of resources, not an Output")
