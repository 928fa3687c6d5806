"""A small service that leaks memory steadily and exposes Prometheus metrics.

Run under supervisord by the demo and the tests: its ``process_resident_memory_bytes``
climbs by ``--leak-mb-per-s`` until ``--cap-mb``, a restart brings it back to baseline.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time

from prometheus_client import Gauge, start_http_server

CHUNK = 256 * 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--leak-mb-per-s", type=float, default=4.0)
    parser.add_argument("--cap-mb", type=float, default=1024.0)
    args = parser.parse_args(argv)

    held = Gauge("leaky_held_bytes", "Bytes the leak is holding on to")
    start_http_server(args.port, addr="127.0.0.1")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    hoard: list[bytes] = []
    rate = args.leak_mb_per_s * 1024 * 1024
    cap = args.cap_mb * 1024 * 1024
    started = time.monotonic()
    total = 0
    while not stopping.wait(0.1):
        target = min(cap, rate * (time.monotonic() - started))
        while total + CHUNK <= target:
            hoard.append(bytes([len(hoard) % 251 + 1]) * CHUNK)
            total += CHUNK
        held.set(total)


if __name__ == "__main__":
    main()
