"""Kubernetes step kinds, on the official client (no shelling out to kubectl)."""
