"""Commands for detect (being filled in)."""
