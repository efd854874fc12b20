"""The files the tool writes: where (state dir, session folders, log names)."""
