"""Data-preparation programs: vocal separation, slicing, ASR labelling and dataset lists.

Each tool is a package with a library function (called by the WebUI) and a ``python -m tools.<name>`` CLI.
"""
