"""`python -m mlptrain` runs the command-line interface."""

from mlptrain.cli import main

main()
