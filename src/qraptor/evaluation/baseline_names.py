"""The baselines every evaluation can run (defined once; `baselines.py` runs them). Kept
apart so configs validate names without importing the environment."""

BASELINES = ("buy_and_hold", "flat", "random", "ma_crossover")
