#!/usr/bin/env python
"""Our MPD WGAN-GP against the original PhysGAN project's published generators,
side by side, on the same held-out real TPC events.

    python benchmarks/mpd_original.py                                  # the shipped preset mpd_wgan_tpc
    python benchmarks/mpd_original.py --run RUN_DIR                    # a training run made with --holdout
    python benchmarks/mpd_original.py --markdown table.md --json table.json

The reference is the held-out 20 % of the original's real training data
(`digits_unparameterized.csv`, events 7999..9998), never trained on by our
model. Each generator draws as many events (`sample(n, seed)`), and the
evaluation suite of `python -m physgan.evaluate` scores them: the separation
power of the original notebooks' observables (amplitude sum, non-empty cells,
centroids and widths in pad and time), the mean 8x8 response, FPD/KPD and the
classifier AUCs (real vs generated; 0.5 is indistinguishable). A last column
scores as many real training events against the same held-out ones: the
statistical floor of every metric.

The original generators were trained on the same file with their own 80/20
split, which is not recorded: they may have seen some of these held-out events.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tables import add_table_flags, print_and_write, use_backend

ORIGINALS = ("best_unparameterized.h5", "generator_500.h5")
LOWER_IS_BETTER_NOTE = "lower is better everywhere; AUC 0.5 is indistinguishable"


def _rows(results: dict) -> list[tuple[str, list[float]]]:
    first = next(iter(results.values()))
    rows = [(f"separation power {name}", [r["separation_power"][name] for r in results.values()])
            for name in first["separation_power"]]
    rows += [(name.replace("_", " "), [r["extra"][name] for r in results.values()]) for name in first["extra"]]
    rows += [(name.upper(), [r[name] for r in results.values()]) for name in ("fpd", "kpd")]
    rows += [(f"classifier AUC {level.replace('_', '-')}", [r[f"classifier_{level}"]["auc"] for r in results.values()])
             for level in ("low_level", "high_level")]
    return rows


def format_table(results: dict, markdown: bool = False) -> str:
    """Returns the side-by-side table; the best generator of each row is starred."""
    columns = list(results)
    generators = [i for i, c in enumerate(columns) if not c.startswith("real")]
    lines = []
    if markdown:
        lines += ["| metric | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    else:
        lines.append(f"{'metric':<36}" + "".join(f"{c[:22]:>24}" for c in columns))
    for name, values in _rows(results):
        best = min(generators, key=lambda i: abs(values[i] - 0.5) if "AUC" in name else values[i])
        cells = [f"{v:.4f}" + ("*" if i == best else "") for i, v in enumerate(values)]
        if markdown:
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        else:
            lines.append(f"{name:<36}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mpd_wgan_tpc", help="preset name or exported .keras file (default: mpd_wgan_tpc)")
    parser.add_argument("--run", help="instead of --model: a training run made with --holdout")
    parser.add_argument("--data", help="digits_unparameterized.csv (default: found in $PHYSGAN_SHARED_DATA)")
    parser.add_argument("--originals", help="folder of the original generators (default: the data file's folder)")
    add_table_flags(parser)
    args = parser.parse_args()
    use_backend(args)
    import physgan
    from physgan.artifacts import read_run_config
    from physgan.data.mpd import read_digits_csv
    from physgan.evaluate import evaluate, held_out_comparison, shipped_comparison, shipped_entry

    if args.run:
        ours, reference = held_out_comparison(args.run, seed=args.seed)
        data = Path(args.data or read_run_config(args.run)["data_path"])
    else:
        model_path, _, data = shipped_entry(args.model, args.data)
        ours, reference = shipped_comparison(model_path, data, seed=args.seed)
    columns = {"physgan (ours)": ours}
    for name in ORIGINALS:
        original = physgan.load(Path(args.originals or data.parent) / name)
        columns[f"original {Path(name).stem}"] = original.sample(len(reference), seed=args.seed)
    columns["real (training events)"] = read_digits_csv(data, max_events=len(reference))
    results = {name: evaluate(events, reference, seed=args.seed, log=lambda *_: None)
               for name, events in columns.items()}
    print(f"{len(reference)} held-out real events of {data.name}; {LOWER_IS_BETTER_NOTE}; * best generator")
    print_and_write(args, results, format_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
