"""The store: every stage reads its input here and writes its output here (DESIGN.md).

``models`` holds the tables, ``session`` the engine and :class:`Store`, ``migrate`` and
``migrations/`` the schema's history. Stages import from this package, not from its modules.
"""

from __future__ import annotations

from bot.store.models import (
    AlertSent,
    AuditLog,
    Assessment,
    Base,
    BudgetPeriod,
    Case,
    CaseMention,
    CaseStatus,
    Customer,
    CustomerHandle,
    CustomerNameKey,
    Digest,
    HttpCache,
    Mention,
    MentionKey,
    Meta,
    Notice,
    NoticeStatus,
    Order,
    OrderLine,
    Remedy,
    RemedyStatus,
    RunLog,
    SourceState,
    StaffLabel,
    UTCDateTime,
    fingerprint,
    utcnow,
)
from bot.store.session import Store, make_engine, mask_url, open_store, resolve_url

__all__ = [
    "AlertSent", "Assessment", "AuditLog", "Base", "BudgetPeriod", "Case", "CaseMention", "CaseStatus", "Customer",
    "CustomerHandle", "CustomerNameKey", "Digest", "HttpCache", "Mention", "MentionKey", "Meta", "Notice", "NoticeStatus", "Order", "OrderLine", "Remedy",
    "RemedyStatus",
    "RunLog", "SourceState", "StaffLabel", "Store", "UTCDateTime", "fingerprint", "make_engine", "mask_url", "open_store",
    "resolve_url", "utcnow",
]
