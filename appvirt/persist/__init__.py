"""Sandbox folders: what outlives a run (files the guest changed, the Windows registry), kept
atomically, versioned and locked against concurrent runs. See docs/profiles.md for the format.

Modules: ``folder`` (layout, metadata, lock), ``layer`` (the upper layer's manifest and blobs),
``commit`` (export and commit to the host), ``atomic`` (crash-safe writes), ``cli``.
"""
