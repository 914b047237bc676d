"""Domain errors survive a process boundary: sweeps run sessions in joblib's worker processes,
which send a failed session's error back pickled; before, unpickling ConfigError/DataError
raised a TypeError that hid the real message."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from qraptor.core.errors import ConfigError, DataError


def _refuse(kind: str) -> None:
    if kind == "config":
        raise ConfigError("session.total_timesteps", "-5 is not > 0")
    raise DataError("data/raw/x.csv", "holds values that are not numbers", rule="not_numeric",
                    rows=["row 3: px='n/a'"])  # fmt: skip


def test_errors_pickle_with_every_field():
    config = pickle.loads(pickle.dumps(ConfigError("a.b", "bad")))
    assert (config.key, config.problem, str(config)) == ("a.b", "bad", "config key 'a.b': bad")
    data = DataError("f.csv", "broken", rule="r", rows=["row 1: x"])
    back = pickle.loads(pickle.dumps(data))
    assert (back.path, back.problem, back.rule, back.rows) == ("f.csv", "broken", "r", ["row 1: x"])
    assert str(back) == str(data)
    assert pickle.loads(pickle.dumps(DataError(None, "no input"))).path is None


@pytest.mark.parametrize("kind", ["config", "data"])
def test_an_error_raised_in_a_worker_process_arrives_whole(kind: str):
    with ProcessPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_refuse, kind)
        with pytest.raises(ConfigError if kind == "config" else DataError) as caught:
            future.result(timeout=60)
    if kind == "config":
        assert caught.value.key == "session.total_timesteps"
    else:
        assert caught.value.rule == "not_numeric" and caught.value.rows == ["row 3: px='n/a'"]
