"""Data-parallel fit (issue #31): ranks' agreement, quality and throughput, under torchrun.

Each rank fits every registered estimator (preset ``benchmark_cpu``, or
``--preset``) on its own part of ``--n-train`` MNIST training images (rows
``r::world``), then encodes and decodes ``--n-test`` test images. Rank 0 reports,
per estimator: the largest difference between the ranks' test reconstructions
(the ranks train one model, so it should be 0 up to float rounding), the PSNR of
rank 0's reconstruction and the training throughput (global samples per second
of wall clock: ``epochs x n_train / fit time``). Run with one process for the
baseline on all rows, then with two at the same global ``batch_size``::

    export SKDEEPSPARSE_DATA=/work/shared/data OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    torchrun --standalone --nproc_per_node 1 benchmarks/engineering/bench_distributed.py
    torchrun --standalone --nproc_per_node 2 benchmarks/engineering/bench_distributed.py

(``--backend nccl --device cuda`` on GPUs: each rank uses ``cuda:LOCAL_RANK``.)
The issue's acceptance: the ranks within 1e-5 and the 2-process PSNR within
0.5 dB of the 1-process one. Timings are meaningful only on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time

import torch
import torch.distributed as dist

from skdeepsparse import registry
from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import psnr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--preset", default="benchmark_cpu")
    ap.add_argument("--epochs", type=int, default=None, help="override max_epochs")
    ap.add_argument("--estimators", nargs="*", default=sorted(registry.ESTIMATORS))
    ap.add_argument("--backend", default="gloo")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds")
    ap.add_argument("--out", default=None, help="JSON file for rank 0's results")
    args = ap.parse_args()

    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = args.device
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    dist.init_process_group(args.backend,
                            timeout=datetime.timedelta(seconds=args.timeout))
    rank, world = dist.get_rank(), dist.get_world_size()
    X = load_mnist("train", n_samples=args.n_train).data
    X_test = load_mnist("test", n_samples=args.n_test).data
    rows = {}
    for name in args.estimators:
        params = dict(registry.presets(name)[args.preset], device=device, random_state=0)
        if args.epochs is not None:
            params["max_epochs"] = args.epochs
        est = registry.ESTIMATORS[name].cls(**params)
        dist.barrier()
        t0 = time.perf_counter()
        est.fit(X[rank::world])
        seconds = time.perf_counter() - t0
        recon = torch.as_tensor(est.inverse_transform(est.transform(X_test)), dtype=torch.float64)
        ref = recon.clone()
        if args.backend == "nccl":
            ref = ref.cuda()
        dist.broadcast(ref, src=0)
        diff = torch.tensor([float((recon - ref.cpu()).abs().max())], dtype=torch.float64)
        if args.backend == "nccl":
            diff = diff.cuda()
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
        epochs = len(est.history_)
        rows[name] = {"world": world, "epochs": epochs, "fit_seconds": seconds,
                      "samples_per_second": epochs * args.n_train / seconds,
                      "max_rank_difference": float(diff.cpu()[0]),
                      "psnr_db": psnr(X_test, recon.numpy()),
                      "batch_size": est.batch_size}
        if rank == 0:
            print(name, json.dumps(rows[name]), flush=True)
    if rank == 0 and args.out:
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), "results": rows}, fh, indent=1)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
