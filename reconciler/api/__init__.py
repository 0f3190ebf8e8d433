"""The SPLX Probe API: the ``ProbeApi`` contract (``base``), its httpx client (``client``), the
retry policy (``retry``), server URLs and paths (``endpoints``) and response bodies (``wire``).

Nothing is imported here: ``endpoints`` is used at start-up (the simulator command's loopback
check), and importing the client would load httpx and pydantic into every command.
"""
