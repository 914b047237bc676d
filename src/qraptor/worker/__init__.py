"""Session applications above training, tracking and the store: the worker loop that serves
the queue (`loop.py`), one claimed session start to finish (`attempt.py`), queueing sessions
(`submit.py`) and the trial ledger seen from inside an in-process sweep job (`ledger_jobs.py`)."""
