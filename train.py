#!/usr/bin/env python
"""Train a physgan zoo model.

    python train.py --list
    python train.py --model mpd_wgan --epochs 5
    python train.py --model mpd_wgan_param --backend jax --data digits.csv --out runs
    python train.py --resume runs/mpd_wgan-mpd_tpc-20261123-120000
    python train.py --model larcv_gan --dataset digits --n-hidden 256 --g-opt sgd
    python train.py --model ewm --data codes.npz --mem-size 500 --psi-lr 0.1

Every run writes a directory with config.json (all flags, versions, data
checksum), history.csv, checkpoints/ and the final <model>.keras; look at it with
`python watch_results.py RUN_DIR`.
"""

from __future__ import annotations

import argparse
import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="zoo model name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the models and the data sets they accept, and the trained presets with their data and held-out metrics, then exit")
    parser.add_argument("--summary", action="store_true", help="print the parameter count of every network of --model, then exit")
    parser.add_argument("--dataset", help="data set name (default: the model's first data set)")
    parser.add_argument("--particle", help="particle of a calorimeter data set (e.g. eplus, gamma)")
    parser.add_argument("--data", help="path of a data file in the data set's format (default: the bundled sample)")
    parser.add_argument("--particles", metavar="FILE.yaml", help="CaloGAN: the original particles.yaml (particle name -> HDF5 file); several particles train an ACGAN")
    parser.add_argument("--epochs", type=int, help="number of epochs (default: the original's)")
    parser.add_argument("--steps-per-epoch", type=int, help="training steps per epoch (default: one pass over the data)")
    parser.add_argument("--stream", action="store_true", default=None, help="CaloGAN and ILD models: read training batches from disk as they are needed (files bigger than memory) instead of loading the file")
    parser.add_argument("--workers", type=int, metavar="N", help="with --stream: N threads (or processes, --use-multiprocessing) read batches ahead while the model trains (default 1; benchmarks/input_pipeline.py measures what a model needs)")
    parser.add_argument("--use-multiprocessing", action="store_true", default=None, help="with --stream and --workers: read in processes instead of threads")
    parser.add_argument("--max-events", type=int, help="use at most this many events of the data file")
    parser.add_argument("--holdout", type=int, metavar="N", help="never train on the last N events of --data: they are kept for `python -m physgan.evaluate --run RUN_DIR` (the split is recorded in the run's config.json)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the original's)")
    parser.add_argument("--distribute", choices=("none", "data-parallel"), help="none (default): one device; data-parallel: every local device holds the weights and trains on an equal slice of each batch (JAX only: keras.distribution.DataParallel; the TensorFlow and torch backends refuse it, saying why). A run may be resumed with another value")
    parser.add_argument("--num-processes", type=int, metavar="N", help="with --distribute data-parallel on JAX: N processes (hosts) train together, each on its own shard of the events; start the same command once per process with its --process-id (default: $KERAS_DISTRIBUTION_NUM_PROCESSES, else 1). Process 0 writes the run directory")
    parser.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 to N-1 (default: $KERAS_DISTRIBUTION_PROCESS_ID)")
    parser.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0, which the others connect to (default: $KERAS_DISTRIBUTION_JOB_ADDRESSES)")
    parser.add_argument("--dtype-policy", choices=("float32", "mixed_bfloat16", "mixed_float16"), help="float32 (default); mixed_bfloat16 / mixed_float16: the layers compute in bfloat16 / float16 with float32 weights, each network's output layers in float32 (mixed_float16 scales the losses against underflow). Pays on GPUs and TPUs; the saved model reloads in its policy")
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (sets KERAS_BACKEND; default: the environment's, else tensorflow)")
    parser.add_argument("--out", default="runs", help="folder in which a new run directory is made (default: runs)")
    parser.add_argument("--seed", type=int, help="random seed (weights, latent draws, shuffling)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint, with the run's flags; --epochs, --backend, --keep-every, --quiet and the run-control flags may be given anew, other flags that change the run are refused")
    parser.add_argument("--allow-different-data", action="store_true", default=None, help="with --resume: go on although the data file is not the one the run trained on (its SHA-256 differs; recorded in config.json)")
    parser.add_argument("--init-from", metavar="RUN_DIR_OR_FILE", help="start a new run from the weights of a model of the same architecture (a .keras file, or a run directory's last checkpoint), e.g. to fine-tune with other options")
    parser.add_argument("--keep-every", type=int, help="also keep a checkpoint every N epochs (default: only the last; --resume keeps the run's N)")
    control = parser.add_argument_group("run control (Keras callbacks; on every network's learning rate at once, on top of the model's own schedule)")
    control.add_argument("--lr-schedule", metavar="SPEC", help="exp:FACTOR multiplies the learning rates by FACTOR after every epoch (e.g. exp:0.95); step:EPOCH,EPOCH,...:FACTOR after those epochs (e.g. step:30,60:0.1)")
    control.add_argument("--reduce-lr-on-plateau", metavar="METRIC[:PATIENCE[:FACTOR]]", help="multiply the learning rates by FACTOR (default 0.5) when the logged loss METRIC (e.g. critic_loss) has not decreased for PATIENCE epochs (default 5)")
    control.add_argument("--early-stopping", metavar="METRIC[:PATIENCE]", help="stop when the logged loss METRIC has not decreased for PATIENCE epochs (default 10)")
    control.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs to DIR (needs pip install 'physgan[tensorboard]')")
    model = parser.add_argument_group("model options (override the original hyper-parameters)")
    model.add_argument("--latent-size", type=int, help="CaloGAN: size of the latent space (original 1024)")
    model.add_argument("--variant", choices=("lc2d", "conv"), help="CaloGAN: lc2d = the paper's LocallyConnected2D model (default), conv = lighter Conv2D variant")
    model.add_argument("--no-attn", action="store_true", default=None, help="CaloGAN: switch off the in-painting between layers")
    larcv = parser.add_argument_group("LArCV particle_generator options (larcv_gan, larcv_ae, ewm; the original's flags)")
    larcv.add_argument("--z-dim", type=int, help="larcv_gan, ewm: size of the generator's input noise (original 100)")
    larcv.add_argument("--n-hidden", type=int, help="larcv_gan, ewm: width of the hidden layers (original 512)")
    larcv.add_argument("--n-layers", type=int, help="larcv_gan, larcv_ae, ewm: number of hidden layers (original 4; EWM's image generator 3)")
    larcv.add_argument("--g-lr", type=float, help="larcv_gan, ewm: generator learning rate (original 1e-4)")
    larcv.add_argument("--d-lr", type=float, help="larcv_gan: discriminator learning rate (original 1e-4)")
    larcv.add_argument("--g-opt", choices=("adam", "sgd", "rmsprop"), help="larcv_gan: generator optimizer (original adam)")
    larcv.add_argument("--d-opt", choices=("adam", "sgd", "rmsprop"), help="larcv_gan: discriminator optimizer (original adam)")
    larcv.add_argument("--l-dim", type=int, help="larcv_ae: size of the code vectors (original 20)")
    larcv.add_argument("--ae-lr", type=float, help="larcv_ae: learning rate (original 1e-4, Adam with weight decay 1e-5)")
    larcv.add_argument("--ae-opt", choices=("adam", "sgd", "rmsprop"), help="larcv_ae: optimizer (original adam)")
    larcv.add_argument("--psi-lr", type=float, help="ewm: learning rate of the transport potential psi (Adam; original 0.1)")
    larcv.add_argument("--mem-size", type=int, help="ewm: OT memory in generated batches of 64, which is also the FIT steps per round (EWM's 4000; particle_generator's argparser 5000)")
    parser.add_argument("--sample-size", type=int, help="samples written to RUN/samples/epoch_NNNN.npy after every epoch (default: 64 for image data sets, else none; 0: none)")
    model.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other constructor option of the model, e.g. --set gradient_penalty_weight=5 (repeatable; VALUE is read as YAML)")
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file of flag values (keys as the long flags, e.g. batch_size: 64); command-line flags win")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (one line per epoch)")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        import yaml

        try:
            with open(args.config) as f:
                values = yaml.safe_load(f) or {}
        except OSError as err:
            parser.error(f"cannot read --config {args.config}: {err.strerror}")
        if not isinstance(values, dict):
            parser.error(f"--config {args.config} must hold a mapping of flag names to values")
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(k.replace("-", "_") for k in values) - known)
        if unknown:
            parser.error(f"--config {args.config} has unknown keys: {', '.join(unknown)}")
        parser.set_defaults(**{k.replace("-", "_"): v for k, v in values.items()})
        args = parser.parse_args(argv)
    if not (args.list or args.model or args.resume):
        parser.error("give --model NAME (or --list, or --resume RUN_DIR)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    from physgan.errors import PhysganError, report
    from physgan import runner

    try:
        if args.list:
            from physgan.presets import describe_presets

            print(runner.describe_models() + "\n\n" + describe_presets())
            return 0
        if args.resume:
            from physgan.artifacts import read_run_config
            from physgan.resume import resumed_flags

            saved = read_run_config(args.resume)["flags"]
            defaults = vars(build_parser().parse_args([]))
            args = argparse.Namespace(**resumed_flags(vars(args), defaults, saved))
        if args.summary:
            print(runner.model_summary(args.model, args.dataset, **runner.model_options_from_flags(vars(args))))
            return 0
        options = vars(args).copy()
        options["verbose"] = 2 if args.quiet else "auto"
        runner.train(options)
    except PhysganError as err:
        return report(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
