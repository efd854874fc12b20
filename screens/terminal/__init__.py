"""The terminal layer: pacing, the cell diff, the key footer; every use of Textual's private names
(textual_private.py)."""
