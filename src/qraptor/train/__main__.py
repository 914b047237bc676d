"""`python -m qraptor.train [overrides]`: see qraptor.train.cli."""

from qraptor.train.cli import main

main()
