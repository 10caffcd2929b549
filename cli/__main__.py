"""`python -m cli ...` is the `xclab` command."""

from cli.main import main

main()
