"""Maintenance scripts of the policy pack (not loaded by the pack itself)."""
