"""Loading partner files into the store: bank and post payment registries, social-protection
beneficiary lists and legacy DBF sets (``ingest_file``), and the ``ingest``/``export`` commands
(:mod:`hub.ingest.cli`). See docs/ingest.md."""

from hub.ingest.common import IngestError, IngestResult
from hub.ingest.loader import SOURCES, ingest_file

__all__ = ["IngestError", "IngestResult", "SOURCES", "ingest_file"]
