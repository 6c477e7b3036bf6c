"""The linkage engine: settings, blocking, comparison levels, the Fellegi-Sunter model and its training,
scoring, clustering, partitioned execution, and the Linker that wires them (:mod:`pace_linkage.engine.linker`).

It imports only its own modules and ``schema``, ``errors`` and ``counting``: never the config (whose
``linkage:`` section is :mod:`pace_linkage.engine.settings`), the normalisers or anything above them."""
