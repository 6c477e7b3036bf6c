"""``python -m flows``: the ``pace-linkage`` command."""

from flows.cli import main

main()
