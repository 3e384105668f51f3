"""Transports: one module per destination, each implementing ``delivery.Transport``.

``helicone_http`` posts to Helicone's async-log routes (cloud or the local receiver).
``producer`` is Helicone's producer layer (Kafka, SQS, dual write, the ``/v1/log/request``
fallback), made a transport by ``ProducerTransport``; ``kafka`` and ``sqs`` import their
client libraries (optional extras) only when a producer is built.
Imported only when a worker starts, on the worker's thread, so importing Heliograph or
building a logger opens no connection and pays for no HTTP machinery.
"""
