"""Views of a ``ResultSet``: one module per format, each a pure function of the set.

``text`` (``status``), ``json`` (``status --format json``); every view takes the same
``reconciler.results.summary.ResultSet`` and none evaluates a gate or builds a link itself.
"""
