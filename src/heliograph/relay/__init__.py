"""The relay: drain Helicone's queue into Helicone's logging API or a ``/v1/log/request``.

``heliograph relay --from kafka|sqs --to helicone|valhalla`` is how Heliograph scales out:
many producers publish to a real queue, and any number of relays forward what it holds.

- ``forward.py``: where a message goes. ``valhalla`` posts it to ``/v1/log/request``
  (Jawn, or Heliograph's receiver); ``helicone`` turns it back into the async log it
  describes and posts it to ``/{route}/v1/log`` under the message's own authorization.
  Bodies stored out of band are read back from the blob store first.
- ``kafka.py`` / ``sqs.py``: consume in a consumer group (Kafka) or under a visibility
  timeout (SQS), and acknowledge a message only once it is forwarded. N relays share the
  work: Kafka gives each a share of the partitions, SQS hides a message from the others
  while one holds it. A redelivery after a crash can repeat a message; the receiver keys
  rows by request id, so a repeat never becomes a second row.
- A message that can never be forwarded (undecodable, invalid, or refused with a 4xx) is
  poison: it goes to a dead-letter topic or queue with an attempt counter, incremented
  each time it fails again, and is dropped (and logged) once the counter reaches the
  limit, rather than cycling forever as Jawn's DLQ does (helicone.md §2.4). A retryable
  failure (the destination is down) is never poison: the relay backs off and retries.
"""
