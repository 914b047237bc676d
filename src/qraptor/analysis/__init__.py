"""Analysis for notebooks and the dashboard: pipeline outputs and results as frames and figures.

Data functions (`data_overview`, `results`) load and compute, returning pandas frames;
plotting functions (`data_plots`, `results_plots`) turn those frames into matplotlib Figures.
Notebooks in `notebooks/` only call these, so their logic is tested here like the rest.
"""
