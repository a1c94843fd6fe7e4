"""Data-parallel training through ``torch.distributed``, launched with ``torchrun``.

Design: every process holds a full model and trains on its own shard of each epoch's batches.
Gradients are averaged across processes by a **pre-step hook on every optimizer**
(:meth:`torch.optim.Optimizer.register_step_pre_hook`), i.e. at the moment the optimizer is
about to consume them, rather than by wrapping the model in ``DistributedDataParallel``.

Why not DDP: DDP synchronises the gradients of a *forward call through the wrapper*, while the
zoo's contract lets each model run its own ``training_step`` (several optimizers, several
backward passes, sub-modules called directly, as in the adversarial autoencoder). Routing all
of that through one ``DDP.forward`` would need per-architecture plumbing and
``find_unused_parameters``. A hook on ``optimizer.step`` syncs exactly the parameters that step
updates, whatever the model did to compute them, so one loop serves every architecture. The
price is that communication does not overlap the backward pass, which is negligible for
autoencoders (one flat all-reduce per optimizer step).

All ranks draw the same shuffled index from the same seed; rank ``r`` takes the ``r``-th slice
of every global batch (``batch_size * world_size`` samples), so a run on ``W`` processes with
batch ``B`` sees the same global batches as a single process with batch ``W * B``.

The same command runs on one process, several GPUs or several nodes (``torchrun --nnodes``):
only rank 0 writes files and shows progress. Resuming on several nodes needs ``--out`` on a
filesystem every node can read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import Tensor

from ..core import settings
from ..core.errors import ConfigError
from ..data import Dataset

__all__ = ["DistEnv", "local_rank", "num_batches", "resolve_device", "setup", "shard_batches"]


@dataclasses.dataclass
class DistEnv:
    """Where this process stands in the run."""

    rank: int = 0  # global rank of this process
    world_size: int = 1  # number of processes
    local_rank: int = 0  # rank on this node (picks the GPU)
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # we initialised the process group, so we destroy it

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------ collectives
    def _comm_device(self) -> torch.device:
        # nccl only moves CUDA tensors; gloo moves CPU ones.
        return self.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")

    def all_reduce_sum(self, t: Tensor) -> Tensor:
        """Sum ``t`` over all processes (a no-op for one process)."""
        if not self.distributed:
            return t
        buf = t.to(self._comm_device())
        torch.distributed.all_reduce(buf)
        return buf.to(t.device)

    def all_gather(self, t: Tensor) -> list[Tensor]:
        """``t`` from every rank (same shape everywhere), on the CPU, in rank order."""
        if not self.distributed:
            return [t.cpu()]
        buf = t.to(self._comm_device())
        out = [torch.empty_like(buf) for _ in range(self.world_size)]
        torch.distributed.all_gather(out, buf)
        return [o.cpu() for o in out]

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if not self.distributed:
            return
        for t in list(module.parameters()) + list(module.buffers()):
            buf = t.data.to(self._comm_device())
            torch.distributed.broadcast(buf, src=0)
            t.data.copy_(buf)

    def average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Replace each gradient with its mean over all ranks, in one flat all-reduce.

        Every rank must hold gradients for the same parameters (true for any model whose
        training step does not branch on the data).
        """
        if not self.distributed:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        flat = self.all_reduce_sum(flat).div_(self.world_size)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
            self.owns_group = False


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> cuda (this process's GPU), then mps, then cpu; other names as given."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cuda, cuda:N, mps, cpu or auto") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device {name!r} asked for, but MPS is not available here; use --device cpu or auto")
    return device


def local_rank() -> int:
    """This process's rank on its node (``LOCAL_RANK`` from torchrun; 0 otherwise)."""
    return settings.torchrun()[2]


def setup(device: str) -> DistEnv:
    """Read ``torchrun``'s environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) and join the group.

    One process (no ``WORLD_SIZE``, or 1) needs nothing; several use nccl on CUDA, gloo elsewhere.
    """
    world, rank, local = settings.torchrun()
    dev = resolve_device(device, local)
    env = DistEnv(rank=rank, world_size=world, local_rank=local, device=dev)
    if world > 1:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
            env.owns_group = True
    return env


def shard_batches(
    data: Dataset, batch_size: int, env: DistEnv, *, generator: torch.Generator, start: int = 0
) -> Iterator[Tensor]:
    """This rank's part of every global batch of a shuffled epoch, skipping ``start`` batches.

    The last ``len(data) % world_size`` samples of the shuffled order are left out so that
    every rank gets the same number of equal-sized batches.
    """
    if not env.distributed:
        yield from data.batches(batch_size, generator=generator, start=start)
        return
    for chunk in data.batches(batch_size * env.world_size, generator=generator, start=start):
        per = len(chunk) // env.world_size
        if per == 0:
            return
        yield chunk[env.rank * per : (env.rank + 1) * per]


def num_batches(n: int, batch_size: int, env: DistEnv) -> int:
    """Batches per epoch on each rank."""
    n -= n % env.world_size
    return -(-n // (batch_size * env.world_size))
