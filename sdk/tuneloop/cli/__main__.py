"""`python -m tuneloop.cli` runs the CLI (handy where the console script is not on PATH)."""

from . import main

main()
