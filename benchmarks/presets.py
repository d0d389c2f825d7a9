#!/usr/bin/env python
"""Every trained preset scored on the events it never saw, next to the real-data floor.

    python benchmarks/presets.py corrvae_zdc larcv_gan_digits     # these presets
    python benchmarks/presets.py --markdown table.md --json table.json   # every preset

For each preset (`physgan.list_presets()`), the held-out events its index entry
records are the reference; the preset draws as many (for the same conditions, as
`python -m physgan.evaluate --model NAME` does), and as many real training events
(the first ones of the same file) give the statistical floor: two real samples
score that much by chance. The evaluation suite of the preset's data set scores
both: the classifier AUCs (0.5 is indistinguishable), the largest separation power
of its observables, its mean image (or response) L1 difference and, for digits,
a digit classifier's confidence and diversity (the effective number of classes).
Data files are found as `physgan.evaluate --model` finds them (bundled samples,
scikit-learn's digits, $PHYSGAN_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import sys

from tables import add_table_flags, print_and_write, use_backend

EXTRA_NAMES = {"mean_image_l1": "mean image L1", "mean_response_l1": "mean response L1",
               "digit_confidence": "digit confidence", "digit_diversity": "digit diversity"}


def _cells(metrics: dict) -> dict[str, str]:
    name, largest = max(metrics["separation_power"].items(), key=lambda kv: kv[1])
    cells = {f"AUC {level.replace('_', '-')}": f"{metrics[f'classifier_{level}']['auc']:.3f}"
             for level in ("low_level", "high_level")}
    cells["largest separation power"] = f"{largest:.3f} {name}"
    for key, label in EXTRA_NAMES.items():
        if key in metrics.get("extra", {}):
            cells[label] = f"{metrics['extra'][key]:.3f}"
    return cells


def format_table(results: dict, markdown: bool = False) -> str:
    """Returns one row per preset, each cell "preset (real floor)"."""
    header = ["preset", "held-out events"]
    rows = []
    for name, result in results.items():
        ours, floor = _cells(result["preset"]), _cells(result["real"])
        for column in ours:
            if column not in header:
                header.append(column)
        rows.append({"preset": name, "held-out events": str(result["preset"]["n_reference"]),
                     **{c: f"{ours[c]} ({floor[c].split(' ')[0]})" for c in ours}})
    table = [[row.get(c, "") for c in header] for row in rows]
    if markdown:
        return "\n".join(["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
                         + ["| " + " | ".join(r) + " |" for r in table])
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(header)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in [header, *table])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="*", help="preset names (default: every preset)")
    add_table_flags(parser)
    args = parser.parse_args()
    use_backend(args)
    from physgan.datasets import get_dataset
    from physgan.evaluate import evaluate, shipped_comparison, shipped_entry
    from physgan.presets import list_presets

    names = args.presets or [p.name for p in list_presets()]
    results = {}
    for name in names:
        model_path, entry, data = shipped_entry(name)
        generated, reference = shipped_comparison(model_path, data, seed=args.seed)
        real = get_dataset(entry["dataset"]).read(data, max_events=len(reference))
        results[name] = {label: evaluate(events, reference, seed=args.seed, log=lambda *_: None)
                         for label, events in (("preset", generated), ("real", real))}
        print(format_table({name: results[name]}), flush=True)
    print("\neach cell: preset (real training events against the same held-out events)")
    print_and_write(args, results, format_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
