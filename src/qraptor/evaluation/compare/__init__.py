"""Comparing runs: config differences, statistics across seeds, the deflated Sharpe of a sweep
(`comparison.py`, pure), shown in the terminal (`table.py`) and as offline HTML (`html.py`,
`plots.py`); `config.py` is the schema of conf/compare."""
