"""Load generator for bench/track.py, run in its own process: fixed concurrency, fixed duration,
raw HTTP/1.1 over loopback sockets (kept alive when the server allows it), one JSON result on stdout.

    python bench/loadgen.py SEED.json --side track --mode legacy --port 8000 [--duration 10 --connections 16]
"""

import argparse
import asyncio
import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
HOST = "127.0.0.1"
SECRET = "bench-secret"
PATHS = {"track": "/api/tryon/track", "baseline": "/bench/baseline/track"}
MODES = ("legacy", "customer", "hot")
REQUEST_TIMEOUT = 15.0
BODY = {
    "variation_count": 1,
    "product_type": "apparel",
    "generation_time_ms": 1820,
    "product_title": "Black Wrap Dress",
    "page_url": "https://shop.example/p/dress-42",
}


@dataclass(frozen=True)
class Shot:
    raw: bytes
    store: str
    customer: str | None


@dataclass(frozen=True)
class Sample:
    start: float
    latency: float
    status: int  # 0: no answer (connection error or timeout)
    shot: Shot


def request(path: str, port: int, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nx-internal-secret: {SECRET}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def shots(seed: dict[str, Any], side: str, mode: str, port: int) -> list[Shot]:
    """legacy: one per store; customer: one per customer, with its token; hot: the first store only."""
    stores, customers = seed[side]["stores"], seed[side]["customers"]
    if mode == "customer":
        items = [
            (c["store"], c["public_id"], {"api_key": c["key"], "end_customer_token": c["token"]}) for c in customers
        ]
    else:
        chosen = stores[:1] if mode == "hot" else stores
        items = [(s["public_id"], None, {"api_key": s["key"]}) for s in chosen]
    return [Shot(request(PATHS[side], port, {**BODY, **extra}), store, customer) for store, customer, extra in items]


async def exchange(conn: Conn | None, shot: Shot, port: int) -> tuple[int, Conn | None]:
    """Send one request; (status, connection to reuse or None)."""
    reader, writer = conn or await asyncio.open_connection(HOST, port)
    writer.write(shot.raw)
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict((name.strip().lower(), value.strip()) for name, _, value in (h.partition(":") for h in lines[1:]))
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:
        await reader.read()
    keep = "content-length" in headers and headers.get("connection", "").lower() != "close"
    if not keep:
        writer.close()
    return int(lines[0].split(" ")[1]), (reader, writer) if keep else None


async def connection(queue: list[Shot], first: int, step: int, port: int, stop_at: float, out: list[Sample]) -> None:
    conn, index = None, first
    while (start := time.perf_counter()) < stop_at:
        shot = queue[index % len(queue)]
        index += step
        try:
            status, conn = await asyncio.wait_for(exchange(conn, shot, port), REQUEST_TIMEOUT)
        except (OSError, EOFError, ValueError, IndexError, asyncio.LimitOverrunError):
            if conn is not None:
                conn[1].close()
            status, conn = 0, None
        out.append(Sample(start, time.perf_counter() - start, status, shot))


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))]


def summary(samples: list[Sample], measure_from: float) -> dict[str, Any]:
    """Throughput and latency over the measured window; errors and 200 tallies over every request sent."""
    measured = [s for s in samples if s.start >= measure_from]
    latencies = sorted(s.latency * 1000 for s in measured)
    elapsed = max((s.start + s.latency for s in measured), default=measure_from) - measure_from
    ok = [s.shot for s in samples if s.status == 200]
    return {
        "requests": len(measured),
        "rps": len(measured) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "errors": sum(s.status != 200 for s in samples),
        "statuses": Counter(str(s.status) for s in samples),
        "ok_by_store": Counter(shot.store for shot in ok),
        "ok_by_customer": Counter(shot.customer for shot in ok if shot.customer),
    }


async def drive(queue: list[Shot], port: int, connections: int, warmup: float, duration: float) -> dict[str, Any]:
    samples: list[Sample] = []
    measure_from = time.perf_counter() + warmup
    stop_at = measure_from + duration
    await asyncio.gather(*(connection(queue, n, connections, port, stop_at, samples) for n in range(connections)))
    return summary(samples, measure_from)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seed", help="the JSON file bench/track.py wrote")
    parser.add_argument("--side", choices=PATHS, required=True)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    with open(args.seed) as f:
        queue = shots(json.load(f), args.side, args.mode, args.port)
    print(json.dumps(asyncio.run(drive(queue, args.port, args.connections, args.warmup, args.duration))))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
