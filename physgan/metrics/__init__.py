"""Physics observables and distances between generated and reference samples.

Plain functions on numpy arrays; nothing here imports a model.
"""
