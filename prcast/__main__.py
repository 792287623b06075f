"""`python -m prcast` runs the command line."""

from prcast.cli import main

main()
