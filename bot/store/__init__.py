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
    PublicReply,
    PublicReplyStatus,
    Remedy,
    RemedyStatus,
    RunLog,
    SourceState,
    StaffLabel,
    UTCDateTime,
    WebLinkUse,
    fingerprint,
    utcnow,
)
from bot.env import mask_url  # one place for it: `check` masks the URL without loading SQLAlchemy
from bot.store.session import (
    NoDatabase,
    Store,
    describe_db_error,
    make_engine,
    open_store,
    resolve_url,
    sqlite_file,
)
from bot.store.upsert import dialect_insert, get_or_insert, insert_missing

__all__ = [
    "AlertSent", "Assessment", "AuditLog", "Base", "BudgetPeriod", "Case", "CaseMention", "CaseStatus", "Customer",
    "CustomerHandle", "CustomerNameKey", "Digest", "HttpCache", "Mention", "MentionKey", "Meta", "NoDatabase", "Notice",
    "NoticeStatus", "Order", "OrderLine", "PublicReply", "PublicReplyStatus", "Remedy", "RemedyStatus",
    "RunLog", "SourceState", "StaffLabel", "Store", "UTCDateTime", "WebLinkUse", "describe_db_error", "dialect_insert",
    "fingerprint", "get_or_insert", "insert_missing", "make_engine", "mask_url", "open_store",
    "resolve_url", "sqlite_file", "utcnow",
]
