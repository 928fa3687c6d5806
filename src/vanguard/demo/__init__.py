"""The one-command demo: a leaking service under supervisord, healed end to end."""
