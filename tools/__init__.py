"""Maintenance commands of the repository (not part of the stack, the pack or preflight)."""
