"""Evaluation: honest backtests of trained policies, financial metrics and baselines.

backtest.py   deterministic rollout over a whole split with the single env; trade log and
              equity curve rebuilt from the env's info (the same accounting as training)
metrics.py    returns, volatility, Sharpe, Sortino, drawdown, Calmar, turnover, hit rate,
              costs, exposure; annualised from the bar timestamps
baselines.py  buy-and-hold, flat, random policy through the same env (same costs)
evaluate.py   one split: the agent next to its baselines, written as CSV + JSON
planted.py    planted-signal (or random-walk) datasets and the oracle rule, for learnability checks
"""
