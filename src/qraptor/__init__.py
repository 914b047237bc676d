"""qraptor: from raw market data to honestly evaluated RL trading agents."""

__version__ = "0.1.0"
