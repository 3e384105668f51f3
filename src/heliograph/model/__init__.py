"""Record model: the typed record of one captured LLM call and its wire forms.

``record.Record`` is what capture produces, the spool stores and delivery sends.
``helicone`` turns it into Helicone's async-log body and route; ``message_data`` into the
producer layer's ``MessageData``; ``ids`` makes the UUIDs Helicone keeps; ``headers``
builds session, user and property headers.
"""

from heliograph.model.headers import Session, helicone_headers
from heliograph.model.ids import is_helicone_request_id, new_request_id, stable_id
from heliograph.model.record import SCHEMA_VERSION, Provider, Record, RecordSink, normalise_provider

__all__ = [
    "SCHEMA_VERSION",
    "Provider",
    "Record",
    "RecordSink",
    "Session",
    "helicone_headers",
    "is_helicone_request_id",
    "new_request_id",
    "normalise_provider",
    "stable_id",
]
