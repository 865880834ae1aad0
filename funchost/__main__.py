"""`python -m funchost ...`: the same as the `funchost` command."""

from funchost.cli import main

main()
