"""qraptor: from raw market data to honestly evaluated RL trading agents."""

import sys
import types

__version__ = "0.1.0"


def _tensorboard_without_tensorflow() -> None:
    """Make the `tensorboard` package (the [tracking] extra: `make tensorboard`, the tests'
    event-file reader) use its own TensorFlow stub in qraptor's processes.

    `import stable_baselines3` imports `torch.utils.tensorboard` when tensorboard is
    installed, which asks tensorboard's lazy `tf` for `tf.io.gfile`; with TensorFlow also
    installed (the [keras] extra) that imports all of TensorFlow: 1.8 s -> 6.6 s for every
    process that trains, measured here. tensorboard's documented switch for "never
    TensorFlow" is an importable `tensorboard.compat.notf`; qraptor reads and writes event
    files without TensorFlow (tensorboardX, the stub), and imports TensorFlow directly
    where it needs it (the Keras export), so nothing is lost.
    """
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


_tensorboard_without_tensorflow()
