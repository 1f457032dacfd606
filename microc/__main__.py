"""`python -m microc` is the `microc` command."""
from microc.cli import main

main()
