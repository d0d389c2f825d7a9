"""Trains one zoo model twice with train.py's flags, on one device and data-parallel
over every local device, and prints the largest weight difference as JSON.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \\
        python -m tests.distributed_training OUT_DIR --model mpd_wgan --batch-size 16 ...

tests/test_distribute.py runs it in a fresh process: the device count is fixed
when JAX starts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def train_twice(out: Path, argv: list[str]) -> dict:
    """Returns {"devices", "max_difference", "max_weight", "worst"} of the final weights
    of a one-device run and a `--distribute data-parallel` run of the same flags."""
    import keras

    import physgan
    from physgan import runner
    from train import parse_args

    weights = {}
    for mode in ("none", "data-parallel"):
        options = vars(parse_args([*argv, "--distribute", mode, "--out", str(out / mode), "--seed", "0",
                                   "--sample-size", "0", "--quiet"]))
        options["verbose"] = 0
        run_dir = runner.train(options)
        model = physgan.load(next(run_dir.glob("*.keras")), compile=False)
        # In order: the second model's own variables are under "<name>_1/".
        weights[mode] = [(v.path, np.asarray(keras.ops.convert_to_numpy(v))) for v in model.weights]
    one, many = weights["none"], weights["data-parallel"]
    assert [w.shape for _, w in one] == [w.shape for _, w in many]
    differences = {path: float(np.max(np.abs(a - b), initial=0.0)) for (path, a), (_, b) in zip(one, many)}
    worst = max(differences, key=differences.get)
    return {"devices": len(keras.distribution.list_devices()), "max_difference": differences[worst],
            "max_weight": max(float(np.max(np.abs(w), initial=0.0)) for _, w in one), "worst": worst}


if __name__ == "__main__":
    print(json.dumps(train_twice(Path(sys.argv[1]), sys.argv[2:])))
