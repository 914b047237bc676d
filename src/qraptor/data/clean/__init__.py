"""Stage `clean`: pandera schemas and the cleaning rules, in memory (`frame.py`) and out of
core (`stream.py`, `order.py`), with the report of every rule (`report.py`)."""
