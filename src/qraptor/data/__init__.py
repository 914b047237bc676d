"""The data pipeline: raw market data to validated, reduced, featurised, split datasets.

Stages (one module each, a pure core plus a thin entry point in `stages.py`), in flow order:

    raw       sources.py / synthetic.py  materialise the sample or synthetic raw files,
              download/                  or download them (bulk dumps, ccxt, yfinance)
    ingest    ingest.py                  read CSV/Parquet, map columns, parse time to UTC
    clean     schemas.py / clean.py      validate (pandera), repair what is safe, report
    reduce    reduce.py                  ticks -> time/tick/volume/dollar bars, out of core
    features  features.py                causal features (no look-ahead)
    split     split.py / normalize.py    chronological + walk-forward splits, causal scaling

Contracts between stages (columns and types; Parquet on disk):

* Ticks: ``timestamp`` timestamp[ns, UTC], ``price`` float64, ``size`` float64, optional
  ``bid``/``ask`` float64.
* Bars: ``timestamp`` timestamp[ns, UTC] (bar start; a time bar covers [t, t + freq), an
  information bar starts at its first tick), ``open``/``high``/``low``/``close``/``volume``/
  ``vwap`` float64, ``trades`` int64.
* Ingested and cleaned data are Parquet *folders* of ``part-NNNNN.parquet`` files, read in
  name order. Until the end of cleaning, rows also carry ``src_file`` (int32, index into the
  folder's ``_manifest.json`` ``files`` list) and ``src_row`` (int64, 1-based data row in that
  file), so every error and report example names the original file and row.
"""
