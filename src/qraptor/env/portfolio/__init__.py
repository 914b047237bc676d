"""The multi-asset environment's parts (issue 16): target weights from actions
(weights.py) and one accounting step for one account or a batch (accounting.py)."""
