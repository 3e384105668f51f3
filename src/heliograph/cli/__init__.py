"""The command line: a thin shell over the public API and ``receiver.server``.

``main`` parses arguments (argparse) and dispatches to ``serve``, ``flush``, ``demo`` and
``status``; each command imports what it needs only when it runs.
"""
