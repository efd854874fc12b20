"""Widgets of the runbook app, one per module."""
