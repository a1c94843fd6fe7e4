"""Cost of the VAE's importance-sampled NLL (``aezoo eval --nll-samples K``) on this machine.

    python benchmarks/nll_speed.py [--images 200] [--samples 1000] [--repeats 3] [--data-dir ../shared/data]

Times ``vae-mnist``'s NLL over the first ``--images`` MNIST test images, in the same process and
interleaved (so machine load hits every variant alike):

* ``one call``: ``VAE.log_likelihood`` over all images in one call, as ``aezoo.evaluate`` called it
  before issue 15 (its batch of 1000 images, chunked inside to at most 4M decoder outputs);
* ``evaluate``: ``aezoo.evaluate(..., nll_samples=K)`` now, which runs the NLL in batches of at
  most 2**16 draws (images x samples) so that its progress moves; it includes the reconstruction pass.

Prints decoder draws per second (images x samples / s, medians), the ratio, and what the
README's commands cost at that rate.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()

    import aezoo
    from aezoo.training.outputs import hardware_name

    vae = aezoo.load("vae-mnist")
    test = aezoo.load_dataset("mnist", "test", root=args.data_dir).subset(args.images)
    x = test.x
    draws = args.images * args.samples

    def one_call() -> float:
        with torch.no_grad():
            x_bin = torch.bernoulli(x, generator=torch.Generator().manual_seed(0))
            return -float(vae.log_likelihood(x_bin, args.samples, generator=torch.Generator().manual_seed(0)).mean())

    def evaluate() -> float:
        return float(aezoo.evaluate(vae, test, nll_samples=args.samples, progress=False)["nll"])

    times: dict[str, list[float]] = {"one call": [], "evaluate": []}
    values: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, fn in (("one call", one_call), ("evaluate", evaluate)):
            t = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t)
    print(
        f"hardware: {hardware_name(torch.device('cpu'))}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; vae-mnist, {args.images} images x {args.samples} samples, "
        f"{args.repeats} interleaved repeats (medians)"
    )
    print("| variant | seconds | draws/s | NLL (nats) |")
    print("|---|---:|---:|---:|")
    rate = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rate[name] = draws / med
        print(f"| {name} | {med:.2f} | {rate[name]:,.0f} | {values[name]:.2f} |")
    print(f"evaluate / one call: {rate['evaluate'] / rate['one call']:.2f}x draws per second")
    for n, k in ((10000, 1000), (1000, 1000), (10000, 100)):
        print(f"--nll-samples {k} on {n} images: about {n * k / rate['evaluate'] / 60:.1f} min at this rate")


if __name__ == "__main__":
    main()
