"""The step-time model of docs/SCALING.md: predicted DCL step time of ResNet-18 data-parallel
training on W machines, from a measured compute time and the bytes each collective moves.

    python examples/scaling_model.py [--image-seconds 0.0561] [--latency-us 25]

Model (no overlap of communication with compute: an upper bound on the step time):
- compute: (B / W) images per rank at the measured seconds per image (two views, forward +
  loss + backward), plus the optimiser step, which every rank repeats in full;
- gradient allreduce: ring reduce-scatter + all-gather of 11.5 M float32 gradients (11.2 M trunk),
  2 (W - 1) / W × bytes / bandwidth, plus 2 (W - 1) message latencies per 16 MiB bucket;
- projection gather: forward all-gather of (2B, D) float32, (W - 1) / W × bytes / bandwidth,
  backward allreduce of the same matrix (twice that), plus latencies;
- SyncBN: per BatchNorm layer a forward and a backward allreduce of a few thousand float64
  (latency-bound: 2 × 2 log2(W) latencies each as reduce-scatter + all-gather by recursive
  halving / doubling), on the critical path;
- each collective also pays the callback path's fixed cost (measured in docs/SCALING.md).
"""
from __future__ import annotations

import argparse
import math

GRADIENT_FLOATS = 11_497_664  # dclkit's resnet18 (CIFAR stem, 11,168,832) + SimCLR head 512-512-128 (328,832)
BN_LAYERS = 21  # 20 in the ResNet-18 trunk, 1 in the SimCLR head
BUCKET_FLOATS = 1 << 22
D = 128


def step_seconds(w: int, batch: int, bandwidth_gbps: float, image_seconds: float, optimiser_seconds: float,
                 latency: float, callback: float) -> tuple[float, float]:
    """(compute seconds, communication seconds) of one step of global batch `batch` on `w` ranks."""
    compute = batch / w * image_seconds + optimiser_seconds
    bytes_per_second = bandwidth_gbps * 1e9 / 8
    ring = 2 * (w - 1) / w
    buckets = math.ceil(GRADIENT_FLOATS / BUCKET_FLOATS)
    gradients = ring * GRADIENT_FLOATS * 4 / bytes_per_second + buckets * (2 * (w - 1) * latency + callback)
    gathered = 2 * batch * D * 4
    gather = 3 * (w - 1) / w * gathered / bytes_per_second + 2 * ((w - 1) * latency + callback)
    sync_bn = 2 * BN_LAYERS * (2 * 2 * math.log2(w) * latency + callback)
    return compute, gradients + gather + sync_bn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-seconds", type=float, default=14.37 / 256,
                        help="compute seconds per image (two views) on one machine (make bench: 14.37 s / 256)")
    parser.add_argument("--optimiser-seconds", type=float, default=0.014, help="the optimiser step (0.1%% of 14.37 s)")
    parser.add_argument("--latency-us", type=float, default=25.0, help="one message's latency on the network")
    parser.add_argument("--callback-us", type=float, default=30.0, help="fixed cost of one collective through the callbacks")
    args = parser.parse_args()
    latency, callback = args.latency_us * 1e-6, args.callback_us * 1e-6
    for title, batch_of in (("strong scaling, global batch 4096", lambda w: 4096),
                            ("weak scaling, 128 images per rank", lambda w: 128 * w)):
        print(f"\n{title}\n")
        print("| W | images per rank | compute (s) | 10 Gb/s: comm (ms) / step (s) / efficiency | "
              "25 Gb/s | 100 Gb/s |")
        print("|---:|---:|---:|---|---|---|")
        for w in (8, 16, 32, 64, 128, 256):
            batch = batch_of(w)
            cells = []
            for gbps in (10, 25, 100):
                compute, comm = step_seconds(w, batch, gbps, args.image_seconds, args.optimiser_seconds, latency, callback)
                ideal = batch * args.image_seconds / w
                cells.append(f"{comm * 1e3:,.0f} / {compute + comm:,.2f} / {ideal / (compute + comm):.0%}")
            compute, _ = step_seconds(w, batch, 10, args.image_seconds, args.optimiser_seconds, latency, callback)
            print(f"| {w} | {batch // w} | {compute:,.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
