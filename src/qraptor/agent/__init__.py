"""Use a trained agent: find it (a run folder, a checkpoint, a session, an MLflow run or
registered model), rebuild the bars it needs and replay it (issue 15).

    resolve.py   MODEL -> a local folder with config.yaml, the model zip and data.json
    sources.py   the remote MODELs: a session in the store (GridFS), an MLflow run
    bars.py      a raw file or a data config -> the run's bars, features and frozen z-scores
    backtest.py  the replay: the same env, costs, baselines, verdict as training's evaluation

Above tracking and store (a MODEL may live in either), below the worker and the CLI.
"""
