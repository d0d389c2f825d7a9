"""Readers and writers per data format, layout validation, the bundled samples.

Nothing here builds or imports a model; `physgan.datasets` turns files into the
arrays a model trains on.
"""
