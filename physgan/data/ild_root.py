"""ROOT -> HDF5: the conversion step of the original ILD "Getting High" pipeline.

The original (FLC-QU-hep/getting_high, training_data/create_hdf5.py, then
corrections.py) reads the LCTuple TTree that Marlin writes from the ILD
simulation: per event the jagged branches `scpox`, `scpoy`, `scpoz` (hit
positions, mm), `scene` (hit energies, GeV), `mcpdg` and `mcene` (the MC
particles; mcene[0] is the incident photon energy, GeV). Here the tree is
streamed in chunks with uproot and binned with numpy (no matplotlib, no
process pool), and written with `physgan.data.ild.IldWriter`.

    python -m physgan.data.ild_root IN.root OUT.h5 [--tree NAME] [--max-mc-particles 7]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from physgan.cli import run_command
from physgan.data.base import check_positive_int
from physgan.data.ild import CELL_SIZE_MM, GROUP, SHOWER_SHAPE, IldShowers, IldWriter
from physgan.errors import ConfigError, DataError

DEFAULT_TREE = "photonSIM"  # the LCTuple processor's name in the original's create_root_tree.xml
HIT_BRANCHES = ("scpox", "scpoy", "scpoz", "scene")
MC_BRANCHES = ("mcpdg", "mcene")
MAX_MC_PARTICLES = 7  # more MC particles: the photon interacted before the calorimeter
# Depth (y, mm) of the 30 silicon layers of the ILD ECal barrel module that was simulated;
# a hit belongs to layer j when LAYER_Y_MM[j] + 0.0001 < y <= LAYER_Y_MM[j] + 0.9999.
LAYER_Y_MM = np.array([1811, 1814, 1824, 1827, 1836, 1839, 1849, 1852, 1861, 1864,
                       1873, 1877, 1886, 1889, 1898, 1902, 1911, 1914, 1923, 1926,
                       1938, 1943, 1955, 1960, 1971, 1976, 1988, 1993, 2005, 2010], dtype="float64")
LAYER_LOW_MM, LAYER_HIGH_MM = 0.0001, 0.9999
# The original's cell edges: 33 in x (32 cells), 31 in z (30 cells).
X_EDGES_MM = np.arange(-81, 82, CELL_SIZE_MM)
Z_EDGES_MM = np.arange(-77, 78, CELL_SIZE_MM)
X_CROP = slice(1, -1)  # corrections.py drops the first and last of the 32 x cells


def _import_uproot():
    """Returns (uproot, awkward); raises ConfigError telling how to install them."""
    try:
        import awkward
        import uproot
    except ImportError:
        raise ConfigError("physgan: reading ROOT files needs uproot and awkward: "
                          "pip install physgan[root]") from None
    return uproot, awkward


def _open_tree(uproot, path: Path, tree: str | None):
    """Returns the TTree `tree` of the ROOT file (a folder holding one TTree also works)."""
    if not path.exists():
        raise DataError(f"physgan: ROOT file {path} does not exist")
    if path.is_dir():
        raise DataError(f"physgan: ROOT file {path} is a folder, expected a ROOT file")
    try:
        file = uproot.open(path)
    except Exception as err:  # uproot raises OSError, ValueError and its own errors on non-ROOT files
        raise DataError(f"physgan: {path} is not a readable ROOT file ({str(err).splitlines()[0]})") from None
    try:
        return _find_tree(uproot, file, path, tree)
    except BaseException:
        file.close()
        raise


def _find_tree(uproot, file, path: Path, tree: str | None):
    """Returns (file, tree name, TTree); raises DataError listing the file's trees or the tree's branches."""
    trees = [key.split(";")[0] for key, kind in file.classnames().items() if kind == "TTree"]
    found = ", ".join(trees) or "no TTree"
    if tree is None:
        if len(trees) != 1:
            raise DataError(f"physgan: ROOT file {path.name}: give the tree to read (found: {found})")
        tree = trees[0]
    try:
        obj = file[tree]
    except KeyError:
        raise DataError(f"physgan: ROOT file {path.name} has no tree {tree!r} (found: {found})") from None
    if isinstance(obj, uproot.ReadOnlyDirectory):
        inside = [t for t in trees if t.startswith(f"{tree.rstrip('/')}/")]
        if len(inside) != 1:
            raise DataError(f"physgan: ROOT file {path.name}: {tree!r} is a folder holding "
                            f"{len(inside)} trees, expected one (found: {found})")
        tree, obj = inside[0], file[inside[0]]
    if not isinstance(obj, uproot.TTree):
        raise DataError(f"physgan: ROOT file {path.name}: {tree!r} is a {type(obj).__name__}, "
                        f"expected a TTree (found: {found})")
    missing = [b for b in (*HIT_BRANCHES, *MC_BRANCHES) if b not in obj.keys()]
    if missing:
        raise DataError(f"physgan: ROOT file {path.name}, tree {tree!r} has no branch "
                        f"{', '.join(repr(b) for b in missing)} (found: {', '.join(obj.keys()) or 'nothing'})")
    return file, tree, obj


def _first_bad(bad: np.ndarray, entries: np.ndarray) -> int:
    return int(entries[int(np.argmax(bad))])


def bin_hits(event: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, energy_gev: np.ndarray,
             n_events: int) -> np.ndarray:
    """Returns float32 (n_events, 30, 30, 30) [layer, x, z] cell energies in MeV of the hits.

    `event` is the event index of each hit; positions in mm, energies in GeV.
    Layers by depth y (LAYER_Y_MM windows); cells of the original's
    np.histogram2d over X_EDGES_MM x Z_EDGES_MM (a hit on the last edge counts
    in the last cell), then x cells 1..30 of the 32 kept. Hits outside are
    dropped.
    """
    y = np.asarray(y, dtype="float64")
    layer = np.searchsorted(LAYER_Y_MM + LAYER_LOW_MM, y, side="left") - 1  # last j with y > low edge
    in_layer = (layer >= 0) & (y <= LAYER_Y_MM[np.clip(layer, 0, None)] + LAYER_HIGH_MM)
    cells = []
    for values, edges in ((x, X_EDGES_MM), (z, Z_EDGES_MM)):
        values = np.asarray(values, dtype="float64")
        index = np.searchsorted(edges, values, side="right") - 1
        index[values == edges[-1]] -= 1  # as np.histogram: the last cell includes its right edge
        cells.append(index)
    ix, iz = cells
    ix = ix - X_CROP.start
    n_x, n_z = SHOWER_SHAPE[1], SHOWER_SHAPE[2]
    keep = in_layer & (ix >= 0) & (ix < n_x) & (iz >= 0) & (iz < n_z)
    flat = ((np.asarray(event)[keep] * SHOWER_SHAPE[0] + layer[keep]) * n_x + ix[keep]) * n_z + iz[keep]
    mev = np.asarray(energy_gev, dtype="float64")[keep] * 1000.0
    size = n_events * int(np.prod(SHOWER_SHAPE))
    return np.bincount(flat, weights=mev, minlength=size).reshape(n_events, *SHOWER_SHAPE).astype("float32")


def root_to_ild(root_path: str | Path, out_path: str | Path, tree: str | None = DEFAULT_TREE,
                max_mc_particles: int = MAX_MC_PARTICLES, chunk_size: int = 1000) -> Path:
    """Returns `out_path` after converting the ILD simulation tree of `root_path` to an ILD HDF5 file.

    Streams `chunk_size` entries at a time (memory about 350 MB per 1000).
    As the original create_hdf5.py: entries with more than
    `max_mc_particles` MC particles are skipped; the incident energy is
    mcene[0] (GeV); hit energies go from GeV to MeV (x1000) and are summed
    per cell, layer j taking the hits with LAYER_Y_MM[j] + 0.0001 < y <=
    LAYER_Y_MM[j] + 0.9999, the cells being the original's bins
    np.arange(-81, 82, 5.088333) in x (32 cells) and np.arange(-77, 78,
    5.088333) in z (30 cells). The file's [layer, x, y] is [layer, ROOT x,
    ROOT z]. To reach 30 x cells, the first and last x cells are dropped as
    corrections.py does (`[:, :, 1:-1]`).

    Departures: corrections.py also shifts, in layers 4-27, the x rows that
    are empty on average over a shuffled training batch towards x=0 (closing
    the gaps of the staggered geometry); that depends on the batch, so it is
    not done here and such gaps stay where they are. Cells are summed in
    float64 and stored float32 (the original stored float64). Writes group
    `30x30` with `energy` (N, 1) and `layers` (N, 30, 30, 30), atomically;
    attributes say the source, tree and how many entries were skipped.
    Raises DataError naming the ROOT entry of any bad value, ConfigError when
    uproot is missing (pip install physgan[root]).
    """
    uproot, ak = _import_uproot()
    root_path, out_path = Path(root_path), Path(out_path)
    max_mc_particles = check_positive_int("max_mc_particles", max_mc_particles)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    file, tree_name, ttree = _open_tree(uproot, root_path, tree)
    name = f"ROOT file {root_path.name}, tree {tree_name!r}"
    attrs = dict(source=root_path.name, tree=tree_name, max_mc_particles=max_mc_particles,
                 converted_by="physgan.data.ild_root")
    n_skipped, first_entry = 0, 0
    with file, IldWriter(out_path, group=GROUP, attrs=attrs) as writer:
        try:
            batches = ttree.iterate([*HIT_BRANCHES, *MC_BRANCHES], step_size=chunk_size, library="ak")
            for batch in batches:
                entries = np.arange(first_entry, first_entry + len(batch))
                first_entry += len(batch)
                n_mc = ak.to_numpy(ak.num(batch["mcpdg"]))
                kept = n_mc <= max_mc_particles
                n_skipped += int((~kept).sum())
                batch, entries = batch[kept], entries[kept]
                if len(batch) == 0:
                    continue
                n_ene = ak.to_numpy(ak.num(batch["mcene"]))
                if (n_ene == 0).any():
                    raise DataError(f"physgan: {name}: entry {_first_bad(n_ene == 0, entries)} has no MC "
                                    f"particle energy (mcene is empty)")
                energy = ak.to_numpy(batch["mcene"][:, 0]).astype("float32")
                bad = ~np.isfinite(energy) | (energy <= 0)
                if bad.any():
                    raise DataError(f"physgan: {name}: entry {_first_bad(bad, entries)}: incident energy "
                                    f"mcene[0] = {energy[int(np.argmax(bad))]:g} GeV, it must be > 0")
                counts = [ak.to_numpy(ak.num(batch[b])) for b in HIT_BRANCHES]
                for branch, count in zip(HIT_BRANCHES[1:], counts[1:]):
                    if (count != counts[0]).any():
                        bad = count != counts[0]
                        raise DataError(f"physgan: {name}: entry {_first_bad(bad, entries)} has "
                                        f"{counts[0][int(np.argmax(bad))]} values in 'scpox' but "
                                        f"{count[int(np.argmax(bad))]} in {branch!r}")
                x, y, z, e = (ak.to_numpy(ak.flatten(batch[b])) for b in HIT_BRANCHES)
                event = np.repeat(np.arange(len(batch)), counts[0])
                for branch, values in zip(HIT_BRANCHES, (x, y, z, e)):
                    bad = ~np.isfinite(values) | ((values < 0) if branch == "scene" else False)
                    if bad.any():
                        entry = int(entries[event[int(np.argmax(bad))]])
                        what = "NaN or inf" if branch != "scene" else "a NaN, inf or negative energy"
                        raise DataError(f"physgan: {name}: entry {entry}: branch {branch!r} holds {what}")
                writer.append(IldShowers(energy, bin_hits(event, x, y, z, e, len(batch))))
        except OSError as err:
            raise DataError(f"physgan: cannot read {name} after entry {first_entry}: {err}") from None
        if writer.n_written == 0:
            raise DataError(f"physgan: {name}: no entries kept ({first_entry} read, {n_skipped} with more "
                            f"than {max_mc_particles} MC particles)")
        writer.attrs["n_skipped_entries"] = np.int64(n_skipped)
    return out_path


# === Command line ===

def build_parser() -> argparse.ArgumentParser:
    """Returns the command-line parser of `python -m physgan.data.ild_root`."""
    parser = argparse.ArgumentParser(
        prog="python -m physgan.data.ild_root",
        description="Convert the ILD simulation's ROOT tree (LCTuple branches scpox, scpoy, scpoz, scene, "
                    "mcpdg, mcene) into an ILD HDF5 file: group 30x30, energy (N, 1) GeV, "
                    "layers (N, 30, 30, 30) MeV [layer, x, z]. Binned as the original create_hdf5.py, the 32 x cells "
                    "cropped to 30 as its corrections.py (whose batch-dependent shift of empty rows is not done).",
    )
    parser.add_argument("root_file", metavar="IN.root", help="the ROOT file written by Marlin's LCTuple")
    parser.add_argument("out_file", metavar="OUT.h5", help="the HDF5 file to write (replaced atomically)")
    parser.add_argument("--tree", default=DEFAULT_TREE,
                        help=f"the TTree, or a folder holding one (default: {DEFAULT_TREE})")
    parser.add_argument("--max-mc-particles", type=int, default=MAX_MC_PARTICLES,
                        help=f"skip entries with more MC particles (default: {MAX_MC_PARTICLES})")
    parser.add_argument("--chunk-size", type=int, default=1000,
                        help="entries read at a time; about 350 MB of memory per 1000 (default: 1000)")
    return parser


def _run(args: argparse.Namespace) -> None:
    from physgan.data.ild import ild_event_count

    path = root_to_ild(args.root_file, args.out_file, tree=args.tree,
                       max_mc_particles=args.max_mc_particles, chunk_size=args.chunk_size)
    print(f"physgan: wrote {path}: {ild_event_count(path)} showers")


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    return run_command(build_parser(), argv, _run)


if __name__ == "__main__":
    raise SystemExit(main())
