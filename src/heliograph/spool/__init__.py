"""Spool: durable JSONL on local disk between capture and delivery. No HTTP here.

Layout of a spool folder (0700; files 0600): one folder per destination (the transport,
endpoint and key a record was logged for, as a one-way fingerprint: ``destination.py``)::

    eviction.lock                                   one size bound for every destination
    destinations/<fingerprint>/
        destination.json                            transport, target, key fingerprint
        segments/seg-<created ns>-<pid>-<rand>.jsonl   records, one framed JSON line each
        segments/seg-….jsonl.acked                  offsets of finished records
        dead-letters.jsonl                          records the endpoint refused for good
        corrupt/<segment>.bad                       lines that failed their checksum
        ledger.jsonl                                delivered / dead / lost counts
        delivery.lock, agent.lock, agent.json       who delivers it (``deliverers.py``)

Invariants:
- A process appends only to segments it created and holds (``flock``), so lines from
  several processes never interleave, and the hot path takes no cross-process lock.
- ``append`` returns after one ``os.write``: the line is in the kernel, so it survives
  SIGKILL of the process; ``fsync`` (never | interval | always) bounds loss on power failure.
- A destination's records are read only by its deliverers, and never by an app thread
  and the delivery agent at once (``deliverers.py``): the agent alone may read segments
  their writers still hold.
- A record is acknowledged only when its outcome is final (delivered or dead-lettered);
  a segment is deleted only when every record in it is acknowledged. A crash in between
  means at most a re-send under the same request id, which the receiver dedupes.
- A segment is created as ``*.jsonl.new``, locked, then renamed: a reader never sees a
  live segment unlocked (it would take it for an orphan). A dead process's locks vanish
  with it; any live process then claims its segments.
- Every line carries a CRC-32; a torn or altered line is moved to ``corrupt/`` and
  counted, and reading goes on.
"""

from heliograph.spool.dead_letters import append_dead_letter, read_dead_letters
from heliograph.spool.folder import HeldSegment, SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.reader import Entry, SpoolReader
from heliograph.spool.segment import CorruptLineError, decode_line, encode_line
from heliograph.spool.status import SpoolStatus, spool_status
from heliograph.spool.writer import SpoolWriter

__all__ = [
    "CorruptLineError",
    "Entry",
    "HeldSegment",
    "Ledger",
    "SpoolFolder",
    "SpoolReader",
    "SpoolStatus",
    "SpoolWriter",
    "append_dead_letter",
    "decode_line",
    "encode_line",
    "read_dead_letters",
    "spool_status",
]
