"""``python -m reconciler``: the same entry point as the console script."""

from reconciler.entry import main

main()
