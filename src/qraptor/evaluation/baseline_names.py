"""The baselines every evaluation can run (defined once; `baselines.py` runs them). Kept
apart so configs validate names without importing the environment.

`random` is the random policy matched to the agent's trading (its turnover and holding
time on the same span); `random_uniform` draws uniformly from the action space (on the demo
sample it trades on ~63% of bars: a bar no agent need clear). `random_sharpes` and
`agent_beats_random_share` refer to `random`.
"""

BASELINES = ("buy_and_hold", "flat", "random", "random_uniform", "ma_crossover")
# A portfolio session's (env=portfolio; qraptor.evaluation.portfolio): 1/N rebalanced,
# 1/N bought and held, momentum top-k, skfolio's minimum variance and maximum Sharpe
# (fitted on past bars only), and the benchmark index held, when the panel has one.
PORTFOLIO_BASELINES = (
    "equal_weight", "buy_and_hold", "momentum_top_k", "min_variance", "max_sharpe", "index",
)  # fmt: skip
PORTFOLIO_BENCHMARK = "equal_weight"  # what a portfolio verdict compares against (1/N)
RANDOM = "random"  # the matched random policy: its runs give random_sharpes
LABELS = {
    "random": "random, matched (median)",
    "random_uniform": "random, uniform (median)",
    "equal_weight": "1/N rebalanced",
    "momentum_top_k": "momentum top-k",
}


def baseline_label(name: str) -> str:
    """How a figure's legend names a baseline (a random one is the median of its runs)."""
    return LABELS.get(name, name.replace("_", " "))
