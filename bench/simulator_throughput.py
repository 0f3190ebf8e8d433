"""Trigger throughput of the simulator on loopback.

Starts ``python -m reconciler.simulator --port 0`` in a subprocess, then hammers the trigger
endpoint from several client processes, each keeping a few keep-alive connections busy with a
minimal HTTP/1.1 client on asyncio streams (lighter than httpx, so the clients leave the CPU to
the server). Every answer must be a 200. Prints requests per second.

    python bench/simulator_throughput.py [--requests 20000] [--clients 2] [--connections 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import signal
import subprocess
import sys
import time

BODY = json.dumps(
    {
        "targetId": 42,
        "probeIds": [101, 102],
        "name": "bench",
        "notifyWhenFinished": False,
        "runAiAnalysis": False,
    }
).encode()


def request_bytes(port: int) -> bytes:
    head = (
        "POST /api/workspaces/1/test-run/trigger HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "X-Api-Key: sim-demo-key\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


async def connection(port: int, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = request_bytes(port)
    for _ in range(count):
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 "):
            raise SystemExit(f"unexpected answer: {head[:60]!r}")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()


def client(port: int, count: int, connections: int) -> None:
    async def run() -> None:
        share, rest = divmod(count, connections)
        await asyncio.gather(
            *(connection(port, share + (1 if i < rest else 0)) for i in range(connections))
        )

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4, help="per client process")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "reconciler.simulator", "--port", "0", "--key", "sim-demo-key"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            raise SystemExit(f"simulator did not start: {line!r}")
        port = int(match.group(1))
        client(port, 200, 1)  # warm-up
        share, rest = divmod(args.requests, args.clients)
        procs = [
            multiprocessing.Process(
                target=client, args=(port, share + (1 if i < rest else 0), args.connections)
            )
            for i in range(args.clients)
        ]
        started = time.perf_counter()
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        elapsed = time.perf_counter() - started
        if any(proc.exitcode for proc in procs):
            raise SystemExit("a client failed")
        print(
            f"{args.requests} triggers from {args.clients} processes x {args.connections} "
            f"connections in {elapsed:.2f} s: {args.requests / elapsed:,.0f} requests/s"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
