"""Walk-forward studies: honest selection of a training configuration.

A study trains every trial (a configuration) on each walk-forward fold x k seeds, scores
it on the stitched out-of-sample returns of the folds only (median or a lower confidence
bound across seeds), selects the best, and evaluates that one configuration once on the
held-out test span. The report adds PBO, DSR and the track record still needed.

    config.py          conf/study schema            folds.py    purged layout checks
    sessions.py        what each session trains     search.py   none | grid | optuna
    process_runner.py  sessions in this process     queue_runner.py  through MongoDB
    stitch.py          stitching and scores         run.py      the study loop
    significance.py    PBO, DSR, MinTRL             report.py   files, table, verdict
    driver.py          run_study: config in, report out
"""

from qraptor.study.config import StudyConfig, compose_study, study_config_from

__all__ = ["StudyConfig", "compose_study", "study_config_from"]  # run_study: study.driver
