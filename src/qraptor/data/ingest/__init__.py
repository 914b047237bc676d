"""Stage `ingest`: users' CSV/Parquet files to canonical UTC Parquet parts (`files.py`), with
the many ways market data writes time parsed to UTC (`timestamps.py`)."""
