"""secure-invoke as a package: `secure_invoke.components`, `.settings`, `.preflight` and the policy pack `.policies`.

Each part lives in its own top-level folder of the repository (`components/`, `settings/`, `preflight/`,
`policies/`); the entries of this folder are links to them, so the repository keeps its layout and a program
imports one namespace, here as from an installed wheel.
"""

# The package's and the policy pack's version (PulumiPolicy.yaml repeats it; a test keeps them equal).
# Semantic versioning as docs/versioning.md defines it for components, settings, the pack and preflight.
__version__ = "0.3.0"
