"""`python -m bench [name ...]`: run every benchmark module (or those whose name contains an argument), each alone.

The benchmarks (docs/performance.md has their figures and commands): billing_history, billing_invoice,
storage_upload (a few minutes each); usage (ingestion and reads at 10M events; its seed takes ~20 min the first
time: `--data-dir DIR` keeps it); load (deploy kit under 100 clients, ~6 min) and renewals (10,000 renewals
with PDFs by one then two Celery workers, up to an hour on a 2-core machine: `python -m bench.renewals
--subscriptions 500` for a quick look). A module whose name starts with `_` is a helper, not a benchmark.
"""

import pkgutil
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    modules = sorted(info.name for info in pkgutil.iter_modules([str(BENCH_DIR)]) if not info.name.startswith("_"))
    chosen = [name for name in modules if not argv or any(wanted in name for wanted in argv)]
    failed = []
    for name in chosen:
        print(f"=== python -m bench.{name}", flush=True)
        # A process per benchmark: each configures Django (and its servers) its own way.
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=BENCH_DIR.parent).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
