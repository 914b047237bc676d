"""Seeded synthetic tick tapes (`tape.py`): sessions and calendar (`calendar.py`), blocks of
ticks with regimes, spread, a planted signal and injected bad ticks (`block.py`)."""
