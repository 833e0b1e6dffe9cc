"""The job queues a user would pick instead of this stack, side by side with the stack's own
job path, on the same PostgreSQL and Redis in the same run: a table of their figures, and the
goal rows of issue 18. Each system's set-ups are in its module's docstring; adding a peer is
adding its module and a line to PEERS."""

import math
from dataclasses import asdict

from bench.harness import Row, Servers, Table
from bench.peers.celery_database import CeleryDatabase
from bench.peers.celery_tutorial import TutorialCelery
from bench.peers.dramatiq_queue import Dramatiq
from bench.peers.measure import Figures, measure, own_database
from bench.peers.procrastinate_queue import Procrastinate
from bench.peers.protocol import Peer
from bench.peers.rq_queue import Rq
from bench.peers.stack_jobs import PLAIN_DATABASE, StackJobs, StackTasks
from bench.tasks_path import postgres_transactions

# A full run measures every peer this many times, in turns.
ROUNDS = 3
TUTORIAL, STACK, PLAIN = TutorialCelery(), StackJobs(prefetch=1), StackTasks()
PEERS: list[Peer] = [
    TUTORIAL,
    CeleryDatabase(),
    Rq("rq.Worker"),
    Rq("rq.SimpleWorker"),
    Procrastinate(processes=2, concurrency=1),
    Procrastinate(processes=1, concurrency=2),
    Dramatiq(threads=8),
    Dramatiq(threads=1),
    STACK,
    StackJobs(prefetch=4),
    PLAIN,
]

COLUMNS = [
    "system",
    "set-up",
    "durable record",
    "drain jobs/s",
    "stack's jobs vs it",
    "enqueue µs p50",
    "enqueue CPU µs",
    "one at a time p50 / p99 ms",
    "CPU s / 1,000 jobs",
]


def peers(servers: Servers, count: int) -> list[Row | Table]:
    """Every peer at every set-up: `count` jobs drained, and 200 one at a time; in ROUNDS
    rounds, the peers in turns, each figure the median of its rounds (a single drain here
    moves by ±30 % from one run to the next). A quick run: one round, 20 one at a time."""
    rounds, samples = (ROUNDS, 200) if count >= 1000 else (1, 20)
    runs, transactions = _in_turns(servers, count, rounds, samples)
    figures = {peer: Figures.median(each) for peer, each in runs.items()}
    return [_table(figures, runs, count, rounds), *_rows(figures, transactions)]


def _in_turns(
    servers: Servers, count: int, rounds: int, samples: int
) -> tuple[dict[Peer, list[Figures]], int]:
    """Each peer's runs, and the PostgreSQL transactions of the plain tasks' worker."""
    own_database(servers, PLAIN_DATABASE)
    runs: dict[Peer, list[Figures]] = {peer: [] for peer in PEERS}
    transactions = 0
    for round_ in range(1, rounds + 1):
        for peer in PEERS:
            before = postgres_transactions(servers, PLAIN_DATABASE) if peer is PLAIN else 0
            runs[peer].append(run := measure(peer, servers, count, samples))
            if peer is PLAIN:  # its worker has stopped: PostgreSQL has counted what it did
                transactions += postgres_transactions(servers, PLAIN_DATABASE) - before
            print(f"peers, round {round_}: {run.name}: {run.per_second:.0f} jobs/s", flush=True)
    return runs, transactions


def _table(
    figures: dict[Peer, Figures], runs: dict[Peer, list[Figures]], count: int, rounds: int
) -> Table:
    stack = figures[STACK]
    lines = [
        [
            f.system,
            f.setup,
            "yes" if f.keeps_record else "no",
            _shown(f.per_second, ".0f"),
            _shown(stack.per_second / f.per_second, ".2f") + "x",
            f"{f.enqueue_us:.0f}",
            f"{f.enqueue_cpu_us:.0f}",
            f"{f.latency_p50_ms:.2f} / {f.latency_p99_ms:.2f}",
            _shown(f.cpu_per_1000, ".2f"),
        ]
        for f in figures.values()
    ]
    title = (
        f"Job queues side by side: {count} no-op jobs drained by 2 workers, then one at a time; "
        + (f"the median of {rounds} rounds in turns" if rounds > 1 else "one round")
    )
    records = [
        asdict(f) | {"name": f.name, "runs": [asdict(run) for run in runs[peer]]}
        for peer, f in figures.items()
    ]
    return Table(title, COLUMNS, lines, records)


def _best(figures: dict[Peer, Figures], system: str) -> Figures:
    """A system at its best set-up here: its fastest drain."""
    mine = [f for f in figures.values() if f.system == system]
    return max(mine, key=lambda f: -math.inf if math.isnan(f.per_second) else f.per_second)


def _shown(value: float, form: str) -> str:
    """`value` as `form` says, or "-" for a drain that no worker was ready to time (a quick
    run's 100 jobs, all done while the last worker process started)."""
    return "-" if math.isnan(value) else format(value, form)


def _rows(figures: dict[Peer, Figures], transactions: int) -> list[Row]:
    stack, tutorial, plain = figures[STACK], figures[TUTORIAL], figures[PLAIN]
    recorders = dict.fromkeys(
        f.system for f in figures.values() if f.keeps_record and f.system != stack.system
    )
    rows = [_drain_row("job drain vs the tutorial's Celery", stack, tutorial, 1.0)]
    rows += [_drain_row(f"job drain vs {s}", stack, _best(figures, s), 1.5) for s in recorders]
    procrastinate, rq = _best(figures, "Procrastinate"), _best(figures, "RQ")
    rows.append(_drain_row("job drain vs RQ", stack, rq, 1.0))
    rows += [
        _cpu_row(stack, tutorial, procrastinate, rq),
        _enqueue_row(stack, tutorial, procrastinate),
        _latency_row(stack, tutorial),
        _plain_row(plain, tutorial, transactions),
    ]
    return rows


def _drain_row(name: str, stack: Figures, peer: Figures, goal: float) -> Row:
    return Row(
        name,
        stack.per_second,
        peer.per_second,
        "jobs/s",
        f"≥ {goal:.1f}x",
        stack.per_second >= goal * peer.per_second,
        f"{stack.name} vs {peer.name}",
    )


def _cpu_row(stack: Figures, tutorial: Figures, *peers: Figures) -> Row:
    below = all(stack.cpu_per_1000 < peer.cpu_per_1000 for peer in peers)
    return Row(
        "CPU per 1,000 jobs",
        stack.cpu_per_1000,
        tutorial.cpu_per_1000,
        "s, every process (enqueue and drain)",
        "≤ 1.3x the tutorial; below " + ", ".join(peer.system for peer in peers),
        stack.cpu_per_1000 <= 1.3 * tutorial.cpu_per_1000 and below,
        "; ".join(f"{peer.name}: {peer.cpu_per_1000:.2f} s" for peer in peers),
    )


def _enqueue_row(stack: Figures, tutorial: Figures, procrastinate: Figures) -> Row:
    return Row(
        "enqueue: one start_job",
        stack.enqueue_us,
        tutorial.enqueue_us,
        "µs p50",
        "≤ 2x the tutorial's .delay(); below Procrastinate's defer()",
        stack.enqueue_us <= 2 * tutorial.enqueue_us and stack.enqueue_us < procrastinate.enqueue_us,
        f"Procrastinate's defer(): {procrastinate.enqueue_us:.0f} µs; CPU per call "
        f"{stack.enqueue_cpu_us:.0f} µs vs {tutorial.enqueue_cpu_us:.0f} µs (tutorial), "
        f"{procrastinate.enqueue_cpu_us:.0f} µs (Procrastinate)",
    )


def _latency_row(stack: Figures, tutorial: Figures) -> Row:
    return Row(
        "one-at-a-time p50",
        stack.latency_p50_ms,
        tutorial.latency_p50_ms,
        "ms",
        "≤ 1.0x the tutorial's Celery",
        stack.latency_p50_ms <= tutorial.latency_p50_ms,
        f"enqueue → the job's body ran, one job at a time, idle workers; p99 "
        f"{stack.latency_p99_ms:.2f} ms vs {tutorial.latency_p99_ms:.2f} ms",
    )


def _plain_row(plain: Figures, tutorial: Figures, transactions: int) -> Row:
    return Row(
        "plain task drain",
        plain.per_second,
        tutorial.per_second,
        "tasks/s",
        "≥ 1.0x, 0 PostgreSQL transactions",
        plain.per_second >= tutorial.per_second and transactions == 0,
        f"the stack's task sent with .delay() (no job row); {transactions} PostgreSQL "
        "transactions by its worker",
    )
