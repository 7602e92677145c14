"""One rank of a torch.distributed (gloo) all-reduce sweep, for bench/hosts-netns.ts.

Environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, GLOO_SOCKET_IFNAME. Arguments: sizes in
bytes (float32 all-reduce of size/4 elements), timed iterations, warm-up iterations (default 1). Every rank's input is rank+1 everywhere,
so the result must be n(n+1)/2 in every element; a wrong count is reported, not hidden. Rank 0
prints one JSON line per size: size, median time in microseconds, algbw and busbw (bytes/s), wrong.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist


def main() -> None:
    sizes = [int(s) for s in sys.argv[1].split(",")]
    iters = int(sys.argv[2])
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=__import__("datetime").timedelta(seconds=300))
    rank, n = dist.get_rank(), dist.get_world_size()
    expect = n * (n + 1) / 2
    for size in sizes:
        count = size // 4
        times = []
        wrong = 0
        for i in range(warmup + iters):  # the first `warmup` are not timed
            x = torch.full((count,), float(rank + 1), dtype=torch.float32)
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(x)
            dt = time.perf_counter() - t0
            # The slowest rank's time is the collective's: take the max over ranks.
            d = torch.tensor([dt], dtype=torch.float64)
            dist.all_reduce(d, op=dist.ReduceOp.MAX)
            if i >= warmup:
                times.append(d.item())
            wrong += int((x != expect).sum().item())
        w = torch.tensor([wrong], dtype=torch.int64)
        dist.all_reduce(w)
        if rank == 0:
            t = statistics.median(times)
            algbw = size / t
            print(json.dumps({"size": size, "time_us": t * 1e6, "algbw": algbw, "busbw": algbw * 2 * (n - 1) / n, "wrong": int(w.item())}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
