"""What `train.py --resume RUN` keeps and what it may change.

A resumed run takes every flag saved in the run's config.json. Flags that say how
long and how visibly it runs (`RESUME_MAY_CHANGE`: the epochs, the backend, the
kept checkpoints, the run-control callbacks, ...) may be given again with new
values; any other flag given again with another value would make a different run,
and is refused with one line naming the flag, the run's value and the new one.
The data file must be the one the run trained on (its SHA-256), unless
`--allow-different-data` says otherwise; config.json then records it.
"""

from __future__ import annotations

from physgan.errors import ConfigError

RESUME_MAY_CHANGE = frozenset({
    "resume", "epochs", "backend", "quiet", "verbose", "keep_every", "sample_size", "config", "out",
    "lr_schedule", "reduce_lr_on_plateau", "early_stopping", "tensorboard", "allow_different_data",
    "summary", "list", "distribute", "coordinator", "num_processes", "process_id",
    "workers", "use_multiprocessing",
})


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def resumed_flags(given: dict, defaults: dict, saved: dict) -> dict:
    """Returns the flags of a resumed run: the `saved` ones, updated by those of `given`
    (the command line's) that differ from the parser's `defaults` and may change.

    Raises ConfigError for a flag given with another value than the run's that
    would change the run (model, data, particle, batch size, model options, ...).
    """
    flags = {**defaults, **saved, "allow_different_data": given.get("allow_different_data")}  # never inherited
    for key, value in given.items():
        if value == defaults.get(key):
            continue  # not given on the command line
        if key in RESUME_MAY_CHANGE:
            flags[key] = value
        elif value != flags.get(key):
            raise ConfigError(f"--resume: {_flag(key)} {value} differs from the run's {flags.get(key)}; "
                              f"a resumed run keeps the flags that define it (start a new run, "
                              f"or one with --init-from {given.get('resume')})")
    return flags


def check_resumed_data(config: dict, sha256: str, source, allow_different: bool) -> dict | None:
    """Refuses (ConfigError) to resume on a data file whose `sha256` is not the run's,
    unless `allow_different`; then returns the record to append to config.json's
    `resumed_on_different_data`. Returns None when the data is the run's."""
    if sha256 == config.get("data_sha256"):
        return None
    if not allow_different:
        raise ConfigError(f"--resume: {source} is not the file this run trained on (SHA-256 {sha256[:12]}... "
                          f"instead of {str(config.get('data_sha256'))[:12]}...); "
                          f"give --allow-different-data to go on with it")
    return {"data_path": str(source), "data_sha256": sha256}
