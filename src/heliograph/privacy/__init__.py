"""Privacy: decide what of a captured call may be stored and exported, before the spool.

``PrivacyFilter`` masks secrets (``redacted``, the default for agent exporters), removes all
content (``metadata_only``), keeps everything (``full``) or exports nothing (``off``), and
counts what it masked in ``Redactions``. Capture code applies it to a record (or to the
text and JSON it builds one from) before handing it to the pipeline, so nothing it masked
ever reaches the disk. The detectors live in ``rules.py``.
"""

from heliograph.privacy.filter import PRIVACY_ENV, PRIVACY_PATTERNS_ENV, PrivacyFilter, PrivacyMode
from heliograph.privacy.redactions import Redactions

__all__ = ["PRIVACY_ENV", "PRIVACY_PATTERNS_ENV", "PrivacyFilter", "PrivacyMode", "Redactions"]
