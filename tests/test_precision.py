"""Mixed precision (`physgan.precision`, train.py and physgan.generate --dtype-policy):
models train, save and reload in bfloat16 with float32 outputs; float16 losses are
scaled and the gradients unscaled; a saved float32 preset generates in bfloat16."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import physgan
from physgan import generate, runner
from physgan.datasets import load_training_data
from physgan.errors import ConfigError
from physgan.precision import check_policy, policy_scope, with_policy
from tests.model_testing import TINY_FLAGS, other_backends, sample_as_array, sample_in_subprocess
from train import main as train_main
from train import parse_args


def train_tiny(name: str, policy: str, out, *flags) -> Path:
    options = vars(parse_args(["--model", name, *TINY_FLAGS[name], "--epochs", "1", "--steps-per-epoch", "2",
                               "--dtype-policy", policy, "--out", str(out), "--seed", "0", "--sample-size", "0",
                               "--quiet", *flags]))
    return runner.train({**options, "verbose": 0})


def output_layers(network) -> list:
    """The layers computing the outputs of `network` (of its functional parts)."""
    if hasattr(network, "output_names"):
        found = [network.get_layer(name) for name in network.output_names]
        return [x for layer in found for x in (output_layers(layer) if isinstance(layer, keras.Model) else [layer])]
    if isinstance(network, keras.Model):
        return [x for layer in network.layers if isinstance(layer, keras.Model) for x in output_layers(layer)]
    return [network]


def assert_computes_in(model, dtype: str) -> None:
    for name, network in model.networks().items():
        outputs = output_layers(network)
        assert outputs and all(layer.compute_dtype == "float32" for layer in outputs), name
        assert all(layer.variable_dtype == "float32" for layer in outputs), name
    inner = [layer.compute_dtype for network in model.networks().values() if isinstance(network, keras.Model)
             for layer in network.layers if layer not in output_layers(network)]
    assert dtype in inner


@pytest.mark.backend_free
def test_policies_are_checked_and_the_global_policy_restored():
    with pytest.raises(ConfigError, match="dtype policy 'float64' is not one of float32, mixed_bfloat16"):
        check_policy("float64")
    with pytest.raises(SystemExit):
        parse_args(["--model", "mpd_wgan", "--dtype-policy", "float64"])
    with pytest.raises(RuntimeError):
        with policy_scope("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError
    assert keras.config.dtype_policy().name == "float32"


# A GAN with a gradient penalty, the flow, a subclassed network (CorrVAE) and a
# network that is one layer (EWM's transport potential).
@pytest.mark.parametrize("name", ["mpd_wgan", "calo_flow", "corrvae", "ewm"])
def test_bfloat16_training_saves_reloads_and_generates(name, tmp_path):
    run_dir = train_tiny(name, "mixed_bfloat16", tmp_path)
    history = np.genfromtxt(run_dir / "history.csv", delimiter=",", names=True)
    losses = [key for key in history.dtype.names if key.endswith("loss") and not key.startswith("val_")]
    assert losses and all(np.isfinite(history[key]) for key in losses)
    assert json.loads((run_dir / "config.json").read_text())["flags"]["dtype_policy"] == "mixed_bfloat16"
    path = run_dir / f"{name}.keras"
    model = physgan.load(path)
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert "computes in mixed_bfloat16" in model.describe()
    assert_computes_in(model, "bfloat16")
    expected = sample_as_array(model.sample(8, seed=0))
    assert np.all(np.isfinite(expected))
    scale = max(1.0, float(np.abs(expected).max()))
    for backend in other_backends(all_of_them=False):
        got = sample_in_subprocess(path, backend, 8, None, tmp_path)
        # bfloat16 rounds differently per backend, which may move a cell across a threshold.
        assert got.shape == expected.shape
        assert np.mean(~np.isclose(got, expected, rtol=0.05, atol=0.05 * scale)) < 0.05


def sgd_steps(policy: str) -> dict:
    """Returns {network: |change of its weights|} after one SGD training step of larcv_gan."""
    options = {**vars(parse_args(["--model", "larcv_gan", *TINY_FLAGS["larcv_gan"]])), "seed": 0}
    entry = runner.get_entry("larcv_gan")
    data = load_training_data(entry.datasets[0], None, 16)
    keras.utils.set_random_seed(0)
    model = runner.build_model("larcv_gan", dtype=policy, **{**runner.data_model_options(entry, entry.datasets[0],
                                                                                       data, 0),
                                                            **runner.model_options_from_flags(options)})
    model.compile()
    before = {name: [np.array(v) for v in net.trainable_variables] for name, net in model.networks().items()}
    model.fit(data.inputs, batch_size=16, epochs=1, shuffle=False, verbose=0)
    return {name: np.sqrt(sum(np.sum((np.array(v) - b) ** 2) for v, b in zip(net.trainable_variables, before[name])))
            for name, net in model.networks().items()}


def test_float16_losses_are_scaled_and_their_gradients_unscaled():
    # SGD's step is proportional to the gradient: a loss scale of 2^15 left in would
    # show 32768x, a step skipped for overflow 0x.
    full, half = sgd_steps("float32"), sgd_steps("mixed_float16")
    for name in full:
        assert 0.8 < half[name] / full[name] < 1.25, (name, half[name], full[name])


def test_float16_runs_resume_with_their_loss_scaling(tmp_path):
    run_dir = train_tiny("calo_flow", "mixed_float16", tmp_path)
    assert train_main(["--resume", str(run_dir), "--epochs", "2", "--quiet"]) == 0
    model = physgan.load(run_dir / "calo_flow.keras")
    assert all(isinstance(opt, keras.optimizers.LossScaleOptimizer) for opt in model.optimizer.optimizers)
    assert int(model.optimizer.iterations) == 4
    assert_computes_in(model, "float16")
    assert len(np.genfromtxt(run_dir / "history.csv", delimiter=",", names=True)) == 2


def test_a_float32_preset_generates_in_bfloat16(tmp_path):
    # The int8 CaloGAN e+ preset: its Dense layers stay int8, the energy normalisation float32.
    shipped = physgan.load("calogan_eplus", compile=False)
    bf16 = with_policy(shipped, "mixed_bfloat16")
    assert_computes_in(bf16, "bfloat16")
    assert {layer.dtype_policy.name for layer in bf16.generator.layers if isinstance(layer, keras.layers.Dense)} \
        == {"int8_from_mixed_bfloat16"}
    energies = np.full(256, 50.0)
    expected = [layer.sum(axis=(1, 2)).mean() for layer in shipped.sample(256, condition=energies, seed=0).layers]
    got = [layer.sum(axis=(1, 2)).mean() for layer in bf16.sample(256, condition=energies, seed=0).layers]
    np.testing.assert_allclose(got, expected, rtol=0.04)
    assert with_policy(bf16, "mixed_bfloat16") is bf16
    out = tmp_path / "showers.h5"
    assert generate.main(["calogan_eplus", "--n", "64", "--energy", "50", "--dtype-policy", "mixed_bfloat16",
                          "--out", str(out)]) == 0
    assert out.exists()
