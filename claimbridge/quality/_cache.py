"""How many washed values each washing function remembers.

The caches serve values repeated close together (a customer's phone on several of its rows);
values further apart are washed again. The bound is fixed rather than scaled to the ledger so
that memory stays flat: a million-invoice run holds no more than a small one.
"""

from __future__ import annotations

WASH_CACHE = 4096
