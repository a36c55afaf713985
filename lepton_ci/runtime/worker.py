"""One data-parallel training process, started by torchrun: ``python -m lepton_ci.runtime.worker
JOB.json``. Reads RANK / LOCAL_RANK / WORLD_SIZE from torchrun's environment."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(job_path: str) -> int:
    import torch
    import torch.distributed as dist

    from lepton_ci.fsutil import atomic_write_json
    from lepton_ci.runtime.context import TrainContext, step_logger
    from lepton_ci.runtime.entrypoints import call_user, load_entrypoint
    from lepton_ci.runtime.seeding import seed_everything

    job = json.loads(Path(job_path).read_text())
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    device = job["device"]
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    try:
        seed_everything(job["seed"])
        ctx = TrainContext(
            params=job["params"],
            seed=job["seed"],
            device=device,
            output_dir=Path(job["output_dir"]),
            data=[Path(p) for p in job["data"]],
            root=Path(job["root"]),
            checkpoint_dir=Path(job["checkpoint_dir"]),
            logger=step_logger("train", rank),
            rank=rank,
            local_rank=local_rank,
            world_size=world_size,
        )
        function = load_entrypoint(job["entrypoint"], Path(job["root"]))
        call_user(function, f"train entrypoint {job['entrypoint']!r} (rank {rank})", ctx)
        ctx.barrier()
        if ctx.is_main:
            ctx.write_metric_history()
            atomic_write_json(
                Path(job["report"]),
                {"train_metrics": ctx.last_metrics(), "resumed_from": ctx.resumed_from},
            )
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    from lepton_ci.errors import LeptonError

    try:
        sys.exit(main(sys.argv[1]))
    except LeptonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(int(exc.exit_code))
