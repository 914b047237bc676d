"""Stage `reduce`: ticks to time/tick/volume/dollar bars and bars to coarser bars
(`bars.py`), by streaming reducers whose result does not depend on where the input is cut
(`reducers.py`)."""
