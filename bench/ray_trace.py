"""Where the throughput of `sleepy` on Ray Serve goes: per-replica idle gaps, the router's assignments, CPU.

    .venv/bin/python bench/ray_trace.py [--replicas 4] [--seconds 10] [--config-extra 'replica_queue = 2']

Deploys `sleepy` (0.1 s per call, one at a time) with `modelport deploy` as bench/ray_serve.py does, and
loads it from 16 clients; every process that imports this file (the ingress, each replica) records what
it sees in a trace folder: each replica when a request reaches it, when the model starts and ends; the
ingress when its router assigns a request to a replica (and to which), and each probe of a replica's queue.
Prints, per replica, the share of the run the model was busy and what its idle gaps were made of (a
request already waiting in the replica when a call ended, or none there yet: the router was late), the
router's assignment times, and the CPU seconds of each process (ingress, replicas, Ray's, this client).
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelport import App, Message

HERE = Path(__file__).resolve()
SLEEP_SECONDS = 0.1
TRACE = os.environ.get("BENCH_RAY_TRACE")
_request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="")
_log: Any = None


def _record(kind: str, **fields: Any) -> None:
    global _log
    if _log is None:
        _log = open(Path(TRACE or ".") / f"{os.getpid()}.jsonl", "a", buffering=1)  # noqa: SIM115
    _log.write(json.dumps({"kind": kind, "t": time.time(), "pid": os.getpid(), **fields}) + "\n")


def _sleepy(messages: list[Message]) -> Iterator[str]:
    """Holds its replica for a fixed time, as a model waiting on I/O would."""
    if TRACE:
        _record("start", request=_request.get())
    time.sleep(SLEEP_SECONDS)
    if TRACE:
        _record("end", request=_request.get())
    yield "ok"


app = App("ray-trace")
app.add(_sleepy, name="sleepy")


def _instrument() -> None:
    from ray.serve._private.request_router import request_router

    from modelport.ray.replica import ModelReplica

    stream = ModelReplica.stream
    counter = itertools.count()

    async def traced_stream(self: Any, kwargs: dict[str, Any]) -> Any:
        name = f"{os.getpid()}-{next(counter)}"
        _request.set(name)
        _record("arrive", request=name)
        async for items in stream(self, kwargs):
            yield items
        _record("done", request=name)

    ModelReplica.stream = traced_stream  # type: ignore[method-assign]

    router = request_router.RequestRouter
    choose = router._choose_replica_for_request
    probe = router._probe_queue_lens

    async def traced_choose(self: Any, pending: Any, *, is_retry: bool = False) -> Any:
        start = time.time()
        waiting = len(self._pending_requests_to_fulfill)
        replica = await choose(self, pending, is_retry=is_retry)
        _record("assign", took=time.time() - start, waiting=waiting, retry=is_retry, replica=str(replica.replica_id))
        return replica

    async def traced_probe(self: Any, replicas: Any, backoff_index: int) -> Any:
        start = time.time()
        result = await probe(self, replicas, backoff_index)
        _record("probe", took=time.time() - start, n=len(replicas), lens=[q for _, q in result])
        return result

    news = router.on_new_queue_len_info
    lower = router.decrement_queue_len_cache

    def traced_news(self: Any, replica_id: Any, queued: int) -> None:
        _record("news", replica=str(replica_id), queued=queued, cached=self.replica_queue_len_cache.get(replica_id))
        news(self, replica_id, queued)

    def traced_lower(self: Any, replica_id: Any) -> None:
        _record("lower", replica=str(replica_id), cached=self.replica_queue_len_cache.get(replica_id))
        lower(self, replica_id)

    router.on_new_queue_len_info = traced_news  # type: ignore[method-assign,assignment]
    router.decrement_queue_len_cache = traced_lower  # type: ignore[method-assign]
    router._choose_replica_for_request = traced_choose  # type: ignore[method-assign,assignment]
    router._probe_queue_lens = traced_probe  # type: ignore[method-assign]


if TRACE:
    _instrument()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, str]:
    """Every process of this user with its command line, by PID."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    return found


def _descendants(root: int) -> set[int]:
    children: dict[int, set[int]] = defaultdict(set)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children[parent].add(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        for child in children[pid] - found:
            found.add(child)
            todo.append(child)
    return found


def _sample(pids: set[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            seconds[pid] = _cpu_seconds(pid)
    return seconds


def _run(url: str, seconds: float) -> tuple[int, float]:
    from ray_serve import load

    return load(url, "sleepy", seconds)


def _quantiles(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    pick = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 for q in (0.5, 0.9, 0.99)]
    return (
        f"n {len(values)}, median {pick[0]:.1f} ms, p90 {pick[1]:.1f}, p99 {pick[2]:.1f}, max {ordered[-1] * 1000:.1f}"
    )


def _analyse(folder: Path, begin: float, end: float) -> None:
    events = [json.loads(line) for path in folder.glob("*.jsonl") for line in path.read_text().splitlines()]
    by_request: dict[str, dict[str, float]] = defaultdict(dict)
    for event in events:
        if event.get("request"):
            by_request[event["request"]][event["kind"]] = event["t"]
            by_request[event["request"]]["pid"] = event["pid"]
    per_replica: dict[int, list[dict[str, float]]] = defaultdict(list)
    for request in by_request.values():
        if "start" in request and "end" in request:
            per_replica[int(request["pid"])].append(request)
    span = end - begin
    print(f"replicas (window {span:.1f} s):")
    handoffs: list[float] = []
    late: list[float] = []
    for pid, calls in sorted(per_replica.items()):
        calls.sort(key=lambda c: c["start"])
        busy = sum(min(c["end"], end) - max(c["start"], begin) for c in calls if c["end"] > begin and c["start"] < end)
        durations = [c["end"] - c["start"] for c in calls if begin <= c["start"] <= end]
        idle_waiting = idle_late = 0.0
        for previous, following in itertools.pairwise(calls):
            if not begin <= previous["end"] <= end:
                continue
            gap = following["start"] - previous["end"]
            if following["arrive"] <= previous["end"]:
                idle_waiting += gap
                handoffs.append(gap)
            else:
                idle_late += gap
                late.append(following["arrive"] - previous["end"])
        call = statistics.mean(durations) * 1000
        print(
            f"  {pid}: busy {busy / span:.3f} of the run, {len(durations)} calls, call {call:.1f} ms mean;"
            f" idle with a request waiting {idle_waiting:.2f} s, idle with none there {idle_late:.2f} s"
        )
    print(f"  handoff gap (a request waiting when a call ended): {_quantiles(handoffs)}")
    print(f"  late gap (call end to the next request's arrival): {_quantiles(late)}")
    arrive_to_done = [r["done"] - r["arrive"] for r in by_request.values() if "done" in r and "arrive" in r]
    print(f"  in the replica, arrival to stream end: {_quantiles(arrive_to_done)}")
    assigns = [e for e in events if e["kind"] == "assign" and begin <= e["t"] <= end]
    probes = [e for e in events if e["kind"] == "probe" and begin <= e["t"] <= end]
    retried = sum(e["retry"] for e in assigns)
    print(f"router: assignment {_quantiles([e['took'] for e in assigns])}; refused by a replica and retried {retried}")
    asked = statistics.mean([p["n"] for p in probes]) if probes else 0
    print(f"  probes {len(probes) / span:.1f}/s of {asked:.1f} replicas, {_quantiles([p['took'] for p in probes])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--config-extra", default="", help="more lines of the model's deploy.toml table")
    parser.add_argument("--keep", help="an empty folder to keep the trace in")
    parser.add_argument("--no-trace", action="store_true", help="only the CPU accounting")
    parser.add_argument("--py-spy", help="a py-spy binary: profile the ingress and one replica during the run")
    parser.add_argument("--profile-dir", default="/tmp", help="where py-spy's raw (collapsed) stacks go")
    args = parser.parse_args()
    from served import modelport_process

    keep = contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory()
    with keep as folder:
        config = Path(folder) / "deploy.toml"
        extra = args.config_extra.replace(";", "\n")
        config.write_text(f"[models.sleepy]\nnum_replicas = {args.replicas}\nmax_ongoing_requests = 1\n{extra}\n")
        trace = Path(folder) / "trace"
        trace.mkdir()
        env = {} if args.no_trace else {"BENCH_RAY_TRACE": str(trace)}
        # The environment reaches the replicas: a local Ray's workers inherit the deploy command's.
        os.environ.update(env)
        options = (str(HERE), "--config", str(config))
        with modelport_process(*options, command="deploy", timeout=900, env=env) as served:
            _run(served.url, 2.0)  # warm: connections, replicas, router cache
            names = _processes()
            pids = _descendants(served.process.pid) | {served.process.pid}
            before, client_before, load_before = _sample(pids), time.process_time(), os.getloadavg()
            spies = []
            if args.py_spy:
                replica = next(p for p in sorted(pids) if "ServeReplica" in names.get(p, ""))
                for label, pid in (("ingress", served.process.pid), ("replica", replica)):
                    out = Path(args.profile_dir) / f"ray_trace_{label}.txt"
                    command = [args.py_spy, "record", "--nonblocking", "-r", "200", "-f", "raw", "-o", str(out)]
                    command += ["-d", str(int(args.seconds)), "-p", str(pid)]
                    spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            begin = time.time()
            total, took = _run(served.url, args.seconds)
            for spy in spies:
                spy.wait()
            end = time.time()
            after, client = _sample(pids), time.process_time() - client_before
        ideal = args.replicas / SLEEP_SECONDS
        print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
        print(
            f"{total / took:.1f} requests/s, share of the ideal {total / took / ideal:.3f} ({args.replicas} replicas)"
        )
        print(f"CPU seconds per second of the run (2 cores = 2.0): client {client / took:.2f}")
        rows = sorted(((after[p] - before.get(p, 0.0)) / took, p) for p in after)
        for share, pid in reversed(rows):
            if share >= 0.01:
                print(f"  {share:5.2f}  {pid}  {names.get(pid, '?')[:90]}")
        print(f"  total server side {sum(s for s, _ in rows):.2f}")
        if not args.no_trace:
            _analyse(trace, begin, end)


if __name__ == "__main__":
    main()
