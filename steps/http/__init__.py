"""HTTP step kinds: health rounds and checks."""
