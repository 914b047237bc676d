"""SB3 model zips with no wall-clock bytes: the same model saves to the same bytes.

`model.save` writes the time of the save into the zip (every entry's date), the wall-clock
start of the last `learn` call (`start_time`, nanoseconds), the wall-clock age of every
episode in its episode-info buffer (`t`, seconds since the monitor started), the memory
address of every method in the readable description of each pickled class (`<function
ActorCriticPolicy.forward at 0x7f7c3da72020>` in `data`: a new address in every process)
and the machine's kernel build (the `OS:` line of system_info.txt). None of them is read
back by anything that uses the model: `learn` sets `start_time` again, SB3's logger reads
only the episodes' reward `r` and length `l`, loading reads only a class's `:serialized:`
pickle, not its description, and system_info.txt is printed, never parsed. With
them in, the train stage's `models/agent` hash changed on every `dvc repro` although the
weights were the same bytes. `save_deterministic` leaves them out (dates fixed to
1980-01-01, the zip format's first date; the library versions stay in system_info.txt),
so a checkpoint or model.zip is byte-identical whenever the model is, and loads and
resumes exactly as before (tests/train/test_reproducible_run.py).

A checkpoint may carry extra entries (`extra`): the in-training validation state as of its
timesteps (qraptor.train.validation). SB3 reads only `data`, `*.pth` and system_info.txt
from a zip, so a checkpoint with extras loads like any other.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
# Attributes of a model `save` must skip: wall-clock values that loading does not need.
VOLATILE_ATTRIBUTES = ("start_time",)
EPISODE_TIME_KEY = "t"  # VecMonitor/Monitor: seconds since the monitor was created
DATA = "data"  # the JSON of the model's attributes
ADDRESS = re.compile(rb" at 0x[0-9a-f]+>")  # in reprs; never in base64 (no space, no >)
SYSTEM_INFO = "system_info.txt"
MACHINE_LINE = "- OS:"  # the kernel build of the machine that saved the model


def save_deterministic(
    model: Any, stream: io.BufferedIOBase, extra: Mapping[str, bytes] | None = None
) -> None:
    """Write `model` (an SB3 algorithm) as a zip to `stream`, without wall-clock bytes;
    `extra`: more entries (name -> bytes) after SB3's, in the order given."""
    raw = io.BytesIO()
    with _episodes_without_times(model):
        model.save(raw, exclude=list(VOLATILE_ATTRIBUTES))
    stream.write(repack(raw.getvalue(), extra))


def read_entry(path: str | Path, name: str) -> bytes | None:
    """The bytes of entry `name` of a model zip, None when it has none."""
    with zipfile.ZipFile(path) as archive:
        return archive.read(name) if name in archive.namelist() else None


def model_data(path: str | Path) -> dict[str, Any]:
    """A model zip's `data` JSON (its attributes: num_timesteps, the spaces' descriptions),
    read without loading the model."""
    data = read_entry(path, DATA)
    if data is None:
        raise ValueError(f"{path} has no '{DATA}' entry: not a stable-baselines3 model zip")
    return dict(json.loads(data))


def repack(zip_bytes: bytes, extra: Mapping[str, bytes] | None = None) -> bytes:
    """The same zip entries in the same order, dated FIXED_DATE, without memory addresses
    in `data` and without the OS line; then the `extra` entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as src, zipfile.ZipFile(out, "w") as dst:
        for entry in src.infolist():
            data = src.read(entry)
            if entry.filename == DATA:
                data = ADDRESS.sub(b">", data)
            elif entry.filename == SYSTEM_INFO:
                data = _without_machine(data)
            info = zipfile.ZipInfo(entry.filename, date_time=FIXED_DATE)
            info.compress_type = entry.compress_type
            info.external_attr = entry.external_attr
            dst.writestr(info, data)
        for name, data in (extra or {}).items():
            dst.writestr(zipfile.ZipInfo(name, date_time=FIXED_DATE), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _without_machine(system_info: bytes) -> bytes:
    lines = system_info.decode().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith(MACHINE_LINE)).encode()


@contextlib.contextmanager
def _episodes_without_times(model: Any) -> Iterator[None]:
    """The model's episode-info buffer without each episode's wall-clock age while saving
    (rewards and lengths kept: a resumed run logs its rolling means from them)."""
    buffer = getattr(model, "ep_info_buffer", None)
    if buffer is None:
        yield
        return
    model.ep_info_buffer = deque(
        ({k: v for k, v in info.items() if k != EPISODE_TIME_KEY} for info in buffer),
        maxlen=buffer.maxlen,
    )
    try:
        yield
    finally:
        model.ep_info_buffer = buffer
