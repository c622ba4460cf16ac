"""Make docs/digest.png: the demo's digest rendered by headless Chromium.

Runs ``recoverybot demo`` (the bundled shop on loopback, one full cycle) in a temporary folder,
takes the ``digest-preview.html`` it writes, and screenshots it with Chromium (Debian's
``chromium`` package). Nothing leaves the machine: Chromium's background networking is off.

    python bench/screenshot.py [--out docs/digest.png] [--height 1900] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
]


def demo_preview(folder: Path) -> Path:
    """Run the demo cycle in `folder` and return the digest preview it wrote."""
    from bot.demo.run import run_demo

    preview = folder / "digest-preview.html"
    status = run_demo(workdir=folder / "work", out=io.StringIO(), preview=preview)
    if status != 0 or not preview.exists():
        raise SystemExit(f"the demo failed (exit {status}); run `recoverybot demo` to see why")
    return preview


def screenshot(html: Path, out: Path, *, width: int, height: int, chromium: str, scale: float) -> None:
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                   f"--force-device-scale-factor={scale}", f"--screenshot={out}", html.as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "digest.png")
    parser.add_argument("--width", type=int, default=760)
    parser.add_argument("--height", type=int, default=1900, help="the top of the digest that is shown")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "")
    parser.add_argument("--html", type=Path, help="screenshot this file instead of running the demo")
    args = parser.parse_args()
    if not args.chromium:
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        html = args.html or demo_preview(Path(tmp))
        screenshot(html.resolve(), args.out.resolve(), width=args.width, height=args.height,
                   chromium=args.chromium, scale=args.scale)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB, {args.width}x{args.height} at {args.scale}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
