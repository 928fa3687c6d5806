"""Commands for ci (being filled in)."""
