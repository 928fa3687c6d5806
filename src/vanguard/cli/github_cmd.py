"""Commands for github (being filled in)."""
