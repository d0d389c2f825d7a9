"""The data formats: one module per data set (its events type, reader, validator, writer,
bundled sample and, at its end, its `register_dataset(DataSet(...))` declaration), the
checks and events base class they share (`base`), the chunked HDF5 writer (`hdf5_writer`),
simulators and converters (`tpc_simulator`, `zdc_simulator`, `ild_root`) and the command
line (`commands`, run as `python -m physgan.data`).

Nothing here builds or imports a model; `physgan.datasets` is the registry that turns
files into the arrays a model trains on.
"""
