"""`recoverybot demo`: serve the bundled shop on loopback and run one full cycle against it."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import TextIO

from sqlalchemy import func, select

from bot import config as cfg
from bot.store import Assessment, Case, Mention, Remedy, open_store


def run_demo(*, workdir: Path | None = None, out: TextIO, preview: Path = Path("digest-preview.html")) -> int:
    """Start the demo shop, write a config for it, run one cycle, write the digest preview.

    With `workdir` the database persists there, so running the demo again shows that nothing is
    stored twice; without it everything lives in a temporary folder.
    """
    from bot.demo import DemoShop, demo_config_text
    from bot.report.digest import preview as write_preview
    from bot.pipeline import run_cycle
    from bot.progress import make_progress

    with tempfile.TemporaryDirectory(prefix="recoverybot-demo-") as tmp:
        folder = (workdir or Path(tmp)).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        with DemoShop() as shop:
            config_path = folder / "config.toml"
            config_path.write_text(demo_config_text(shop, folder), encoding="utf-8")
            config = cfg.load(config_path)
            out.write(f"demo shop {config.bot.shop_name!r} serving on {shop.base_url}\n")
            store = open_store(config.bot.database, config.data_dir)
            try:
                report = run_cycle(config, store, progress=make_progress(out))
                for line in report.lines():
                    out.write(f"  {line}\n")
                digest = write_preview(store, config, preview)
                _summary(store, out)
            finally:
                store.dispose()
        out.write(f"\nwrote {preview} ({digest.subject})\n")
        if workdir:
            out.write(f"database and config kept in {folder}\n")
    return 0 if report.ok else 1


def _summary(store: object, out: TextIO) -> None:
    from bot.store import Store

    assert isinstance(store, Store)
    with store.session() as session:
        per_source = dict(session.execute(select(Mention.source, func.count()).group_by(Mention.source)).all())
        unhappy = dict(
            session.execute(
                select(Mention.source, func.count())
                .join(Assessment, Assessment.mention_id == Mention.id)
                .where(Assessment.unhappy.is_(True))
                .group_by(Mention.source)
            ).all()
        )
        statuses = Counter(session.scalars(select(Case.status)).all())
        remedies = Counter(session.scalars(select(Remedy.kind)).all())
    out.write("\n  source          mentions  unhappy\n")
    for source, count in sorted(per_source.items()):
        out.write(f"  {source:<15} {count:>8}  {unhappy.get(source, 0):>7}\n")
    out.write("\n  cases: " + (", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none") + "\n")
    out.write("  remedies: " + (", ".join(f"{n} {k}" for k, n in sorted(remedies.items())) or "none") + "\n")
