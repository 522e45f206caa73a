"""Per-tick cost of the batched decode (`Engine.decode_streams`), split into the model's
share and the per-stream Python/numpy overhead, for several stream counts.

    .venv/bin/python benchmarks/decode_overhead.py                     # B = 1, 50, 100, 200
    .venv/bin/python benchmarks/decode_overhead.py --streams 200 --threads 2 --repeats 5

Each tick gives every stream a 20 ms chunk and makes one `decode_streams` call; the table
holds medians over ticks, then the median over repeats (the machine is shared: repeat).
The measurement is `facestream.bench.throughput.decode_cost`.
"""
import argparse

import numpy as np

from facestream.bench.throughput import decode_cost
from facestream.engine.stream import Engine

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, nargs="+", default=[1, 50, 100, 200])
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--ticks", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", help="an exported model (default: the shipped one)")
    args = p.parse_args()
    engine = Engine(args.model, backend="onnxruntime", threads=args.threads)
    print(f"threads={args.threads}  ticks={args.ticks}  repeats={args.repeats}")
    print("| streams | decode_streams ms/tick | model ms/tick | overhead ms/tick |")
    print("|--:|--:|--:|--:|")
    for b in args.streams:
        runs = [decode_cost(engine, b, args.ticks) for _ in range(args.repeats)]
        med = {k: float(np.median([r[k] for r in runs])) for k in ("decode_ms", "model_ms", "overhead_ms")}
        print(f"| {b} | {med['decode_ms']:.2f} | {med['model_ms']:.2f} | {med['overhead_ms']:.2f} |",
              flush=True)
