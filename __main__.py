"""secure-invoke: Pub/Sub → gen2 function `relay` → private Cloud Run `worker`, over Google-signed OIDC.

Thin wiring only: settings are read and validated once, before any resource is registered; `stack.build`
registers the resources and returns the outputs exported here.
"""

import pulumi

import stack
from secure_invoke import settings

for name, value in stack.build(settings.load()).items():
    pulumi.export(name, value)
