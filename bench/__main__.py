"""`make bench` (python -m bench): every row, printed as a table and saved as JSON in
bench/results/. QUICK=1 (or --quick): small counts, seconds; it checks that the benchmark
runs, and asserts nothing about speed. `--only email` (any part of a row's function name):
those rows alone; `--only peers`: the job queues side by side (bench/peers/)."""

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import observability, tasks_path, web_path, work_path
from bench.harness import Row, Servers, Table, servers
from bench.peers import compare

RESULTS = Path(__file__).resolve().parent / "results"

# (what, the full run's size, the quick run's)
ROWS: list[tuple[Callable[[Servers, int], Row | Sequence[Row | Table]], int, int]] = [
    (compare.peers, 3000, 100),
    (web_path.publish_cost, 10, 1),
    (tasks_path.enqueue_to_start, 300, 20),
    (work_path.email, 2000, 50),
    (work_path.bulk_price_change, 1_000_000, 20_000),
    (work_path.supplier_sync, 400, 40),
    (observability.observability_cost, 1500, 50),
]


def table(rows: list[Row]) -> str:
    lines = [
        f"{'row':<34} {'figure':>12} {'baseline':>12} {'ratio':>7}  {'goal':<44} met",
        "-" * 118,
    ]
    for row in rows:
        lines.append(
            f"{row.name:<34} {row.figure:>12.2f} {row.baseline:>12.2f} {row.ratio:>6.2f}x  "
            f"{row.goal:<44} {'yes' if row.met else 'NO'}"
        )
        lines.append(f"{'':<34} {row.unit}; {row.note}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv or os.environ.get("QUICK", "") not in ("", "0")
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    started = time.monotonic()
    rows: list[Row] = []
    tables: list[Table] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch, servers(Path(scratch)) as running:
        from flask_migrate import upgrade

        from web import create_app

        with create_app(running.settings(15)).app_context():
            upgrade()
        for measure, full, small in ROWS:
            if only and only not in measure.__name__:
                continue
            measured = measure(running, small if quick else full)
            for item in [measured] if isinstance(measured, Row) else measured:
                if isinstance(item, Table):
                    tables.append(item)
                    continue
                rows.append(item)
                print(f"{item.name}: {item.figure:.2f} {item.unit}", flush=True)
        if not only or only in "worker_memory":
            memory = (1000, 2000) if quick else (10_000, 50_000)
            rows.append(tasks_path.worker_memory(running, *memory))
    for each in tables:
        print(f"{each.render()}\n")
    print(table(rows))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = RESULTS / f"{stamp}{'-quick' if quick else ''}.json"
    path.write_text(
        json.dumps(
            {
                "quick": quick,
                "seconds": round(time.monotonic() - started),
                "rows": [row.as_dict() for row in rows],
                "tables": [each.as_dict() for each in tables],
            },
            indent=2,
        )
    )
    print(f"saved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
