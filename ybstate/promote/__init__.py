"""Promotion of a standby to primary, and decommission of a tenant (DESIGN 5)."""
