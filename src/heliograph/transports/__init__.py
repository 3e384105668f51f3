"""Transports: one module per destination, each implementing ``delivery.Transport``.

``helicone_http`` posts to Helicone's async-log routes (cloud or the local receiver).
Imported only when a worker starts, on the worker's thread, so importing Heliograph or
building a logger opens no connection and pays for no HTTP machinery.
"""
