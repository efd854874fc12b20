"""runbook: the engine. Headless: no Textual, no Rich, no client libraries."""

__version__ = "0.1.0"
