"""Imported as `components.shared_imports`: must be this program's, not another `components` package."""

import pulumi_gcp as gcp

MARKER = "own-components"
storage = gcp.storage
