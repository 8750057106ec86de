"""The earnings ledger: every job, its energy and its credit, hash-chained in sqlite (WAL).

``store.Ledger`` appends and verifies; ``statement`` turns entries into monthly statements and
yearly summaries. See docs/ledger.md.
"""

from __future__ import annotations

from .entries import Entry as Entry
from .entries import LedgerError as LedgerError
from .store import Ledger as Ledger
from .store import Verification as Verification

LEDGER_FILE = "ledger.sqlite"
