"""``python -m funchost``: the same command line as ``funchost``."""

from funchost.cli import main

main()
