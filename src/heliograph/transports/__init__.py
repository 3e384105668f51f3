"""Transports: one module per destination, each implementing ``delivery.Transport``.

``helicone_http`` posts to Helicone's async-log routes (cloud or the local receiver).
Imported only when a worker starts, so ``import heliograph`` never imports httpx.
"""
