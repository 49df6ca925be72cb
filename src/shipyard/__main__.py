"""`python -m shipyard`: the same as the `shipyard` command."""

from shipyard.cli.entry import main

main()
