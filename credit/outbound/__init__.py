"""Outbound connectors: stored records flow to other systems (issue 23)."""
