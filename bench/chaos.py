"""Chaos benchmark: the real ``steward run`` under SIGKILLs, provider storms and Telegram faults.

Usage: ``python bench/chaos.py [--jobs 2000] [--kills 20] [--seed N]``. Prints what happened to
every job, side effect and owed answer; the baseline is the same workload's arithmetic (what
a run without faults must produce). Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)  # the folder's ``bot.py`` would shadow the ``bot`` package

from tests.e2e.chaos_kit import ChaosPlan, run_chaos  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (logs, db)")
    args = parser.parse_args()
    plan = ChaosPlan(jobs=args.jobs, kills=args.kills, seed=args.seed,
                     settle_timeout_s=args.timeout)
    with tempfile.TemporaryDirectory(prefix="steward-chaos-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run_chaos(plan, folder, progress=lambda m: print(m, flush=True)))
    print()
    print(report.table())
    verdict = (report.lost == 0 and report.repeated_effects == 0 and report.answers_lost == 0
               and not report.problems)
    print(f"\nverdict: {'PASS' if verdict else 'FAIL'} (baseline: 0 lost, 0 repeated, "
          f"0 notifications lost)")
    print(json.dumps(report.figures()))
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
