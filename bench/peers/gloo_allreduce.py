#!/usr/bin/python3
"""gloo_allreduce.py: torch.distributed (gloo over TCP on 127.0.0.1) float32 all_reduce(SUM) in place,
one of bench/peers' columns, measured exactly as bench/peers-zcoll-worker.ts measures zcoll.

    /usr/bin/python3 bench/peers/gloo_allreduce.py -n 2 --sizes 4096,65536 --json out.json [--iters N]
                     [--warmup N]
                     [--port P] [--timeout S]

Debian's python with python3-torch (1.13 has the gloo backend). Without --rank it starts N copies of
itself, one rank each (torch threads = 1, GLOO_SOCKET_IFNAME=lo), and kills them all (by PID) if one
fails or --timeout passes, so a dead rank is an exit code, never a hang.
Per size, per iteration: fill with rank+1; barrier; t0; all_reduce; t1; barrier; count the elements that
are not n(n+1)/2 (every element, outside the timed part, and only once every rank left the all-reduce:
with more ranks than cores a rank's check would otherwise take the core from a peer still timing). time = median over the timed iterations of the
max over ranks; algbw = bytes/time, busbw = algbw*2(n-1)/n (nccl-tests), GB = 1e9 B.
Iterations: 512 MiB of traffic per size clamped to [5, 200] unless --iters; warmup min(5, iters)
unless --warmup.
The JSON's rows carry `wrong` (summed over ranks and iterations) and `checked` (elements compared).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time


def iterations(size, forced):
    return forced if forced > 0 else max(5, min(200, (512 << 20) // size))


def rank_main(a):
    import torch
    import torch.distributed as dist
    from datetime import timedelta

    torch.set_num_threads(1)
    n = a.n
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{a.port}", rank=a.rank, world_size=n,
                            timeout=timedelta(seconds=a.timeout))
    want = n * (n + 1) / 2.0
    rows = []
    for size in a.sizes:
        count = size // 4
        buf = torch.empty(count, dtype=torch.float32)
        iters = iterations(size, a.iters)
        warm = a.warmup if a.warmup > 0 else min(5, iters)
        times, wrong = [], 0
        for it in range(warm + iters):
            buf.fill_(a.rank + 1)
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            t1 = time.perf_counter()
            dist.barrier()
            wrong += int((buf != want).sum().item())
            if it >= warm:
                times.append(t1 - t0)
        slowest = torch.tensor(times, dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        bad = torch.tensor([wrong], dtype=torch.int64)
        dist.all_reduce(bad, op=dist.ReduceOp.SUM)
        med = statistics.median(slowest.tolist())
        algbw = size / med / 1e9
        rows.append(dict(bytes=size, count=count, iters=iters, warmup=warm, time_med_s=med,
                         time_min_s=min(slowest.tolist()), algbw_GBps=algbw, busbw_GBps=algbw * 2 * (n - 1) / n,
                         wrong=int(bad.item()), checked=count * (warm + iters) * n))
    dist.barrier()
    if a.rank == 0:
        with open(a.json, "w") as f:
            json.dump(dict(peer="gloo", torch=torch.__version__, n=n, results=rows), f, indent=1)
    dist.destroy_process_group()


def launch(a):
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    me = os.path.abspath(__file__)
    procs = [subprocess.Popen([sys.executable, me, "--rank", str(r)] + sys.argv[1:], env=env) for r in range(a.n)]
    # A SIGTERM (bench/peers' timeout) ends the launcher through `finally`, which stops the ranks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    deadline = time.time() + a.timeout
    status = 0
    try:
        # Poll all ranks: one that fails would leave the others waiting in gloo until its timeout.
        while any(p.poll() is None for p in procs):
            failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
            if failed:
                status = failed[0]
                break
            if time.time() > deadline:
                print(f"gloo_allreduce: no result after {a.timeout} s, stopping the ranks", file=sys.stderr)
                status = 124
                break
            time.sleep(0.05)
        status = status or next((p.returncode for p in procs if p.returncode), 0)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return status


def main():
    ap = argparse.ArgumentParser(description="gloo all_reduce(SUM) float32 sweep (bench/peers)")
    ap.add_argument("-n", type=int, default=2)
    ap.add_argument("--sizes", required=True, help="comma-separated sizes in bytes (multiples of 4)")
    ap.add_argument("--iters", type=int, default=0, help="timed iterations per size (0: by size)")
    ap.add_argument("--warmup", type=int, default=0, help="untimed iterations per size (0: min(5, iters))")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--rank", type=int, default=-1)
    a = ap.parse_args()
    a.sizes = [int(s) for s in a.sizes.split(",")]
    bad = [s for s in a.sizes if s < 4 or s % 4]
    if bad:
        ap.error(f"sizes must be positive multiples of 4 bytes (float32), got {bad}")
    if a.rank >= 0:
        rank_main(a)
    else:
        sys.exit(launch(a))


if __name__ == "__main__":
    main()
