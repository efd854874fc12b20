"""A run tying them together: run, pairing and the wheel, resume, report, notifications, the operator."""
