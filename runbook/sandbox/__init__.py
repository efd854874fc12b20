"""The local rehearsal world: a Kubernetes API emulator and other stand-ins (no Textual)."""
