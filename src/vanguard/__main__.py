"""``python -m vanguard``: the ``vanguard`` command, for an environment without its script."""

from vanguard.cli import main

if __name__ == "__main__":
    main()
