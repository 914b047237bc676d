"""`python -m qraptor.train [overrides]`: see qraptor.cli.train."""

from qraptor.cli.train import main

main()
