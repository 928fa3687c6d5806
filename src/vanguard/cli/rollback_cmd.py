"""Commands for rollback (being filled in)."""
