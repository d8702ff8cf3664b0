"""Outbound files made from the store: provider transfer registries (formats §6.1), debts files
for banks (§6.2) and the charges reply to social protection (§4.2). Every export is logged in
``export_log`` and is idempotent (same store → same bytes, no duplicate log rows). See
docs/ingest.md."""

from hub.exports.common import ExportedFile, ExportError
from hub.exports.debts import bank_profile, export_debts
from hub.exports.szn import export_szn_reply
from hub.exports.transfers import export_transfers

__all__ = [
    "ExportError",
    "ExportedFile",
    "bank_profile",
    "export_debts",
    "export_szn_reply",
    "export_transfers",
]
