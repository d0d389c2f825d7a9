"""The physgan zoo: one module per architecture; importing a module registers it.

Installed as `physgan.zoo`; use `physgan.get_model(name)` rather than
importing these modules directly.
"""
