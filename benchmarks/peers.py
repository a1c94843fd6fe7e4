"""aezoo against the libraries people would use instead: pythae, PyOD and Keras 3 (torch backend).

The same two autoencoders, on the same MNIST tensors, with the same loss (mean squared error on
pixels in [0, 1]), trained by each library's own training loop:

* ``mlp``: 784-32-784, ReLU code, sigmoid output (aezoo's ``mlp``);
* ``conv``: aezoo's ``conv`` (3x3 stride-2 convs 1-32-64, dense 16-d code, transposed convs back,
  sigmoid output), rebuilt layer for layer in each library (PyOD has no convolutional autoencoder).

Recipes: aezoo uses its ``Trainer`` with ``--aezoo-recipe`` (default: ``AEZOO_RECIPES``, Adam with a
one-cycle schedule; the mlp one was chosen by an aezoo-only sweep over 8 recipes, recorded in
``benchmarks/results/peers_mlp_recipe_sweep.json``); every peer gets the tutorial recipe, Adam 1e-3
at batch 128 (better than pythae's own defaults, 1e-4 at batch 64, and PyOD's, batch 32 with weight
decay, batch norm and dropout, which are turned off here so that the model is the same). pythae:
``TrainingPipeline`` with an ``AE`` around the same encoder/decoder; PyOD:
``pyod.models.auto_encoder.AutoEncoder`` with ``hidden_neuron_list=[32]`` and a sigmoid appended to
its decoder; Keras: ``keras.Sequential``, ``compile(Adam(1e-3), "mse")``, ``fit``.

Two views (``--view``), one JSON file each, rendered side by side by ``--render USER.json SAME.json``:

* ``user`` (the default): each library as a user gets it, as above: aezoo its recipe for this
  benchmark, every peer the tutorial recipe. Its ratios mix the speed of the training loop with the
  recipe.
* ``same``: every library, aezoo included, with the one recipe that all of them let a user set:
  Adam 1e-3 at batch 128, constant learning rate (``SAME_RECIPE``, the peers' recipe of both views),
  up to ``--max-epochs`` epochs. What differs then is the training loop (its speed, and what it does
  beyond the recipe: initialisation, data order), which is what its ratios measure. (A third view,
  every library on aezoo's one-cycle schedule, is not offered: pythae steps its ``scheduler_cls``
  once per epoch, not per batch, and PyOD's ``AutoEncoder`` takes a learning rate but no schedule,
  so only Keras could follow aezoo's per-step schedule through its own API.)

Each run is a fresh process (one library per process, libraries alternating in a rotating order,
so load on a shared machine affects them alike). The clock starts after the common data is in
memory and before the library builds its model and data pipeline; it stops when the test MSE
(checked every ``--check-every`` training samples, the check not timed) reaches the model's
target. Reported per library and model: the median over seeds of the time to the target,
samples/s of training, samples to the target and the process's peak RSS. Run (in a venv with the
peers: ``pip install -r benchmarks/requirements-peers.txt``):

    python benchmarks/peers.py --data-dir DIR --json benchmarks/results/peers_cpu_user.json
    python benchmarks/peers.py --data-dir DIR --view same --json benchmarks/results/peers_cpu_same.json
    python benchmarks/peers.py --render benchmarks/results/peers_cpu_user.json   # one view's table again
    python benchmarks/peers.py --render benchmarks/results/peers_cpu_{user,same}.json  # both, side by side
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from train_speed import Clock  # the same pausable wall clock (benchmarks/ is on sys.path when run as a script)

LIBRARIES = ("aezoo", "pythae", "pyod", "keras")
TARGETS = {"mlp": 0.0168, "conv": 0.0269}  # the test MSE of PCA at the code size: PCA-32 and PCA-16
AEZOO_RECIPES = {  # aezoo's TrainConfig per model unless --aezoo-recipe says otherwise
    "mlp": {"epochs": 2, "batch_size": 128, "lr": 1e-2, "schedule": "onecycle"},
    "conv": {"epochs": 1, "batch_size": 128, "lr": 6e-3, "schedule": "onecycle"},
}
# The tutorial recipe: every peer's in both views, and every library's (aezoo's too) in the "same" view.
SAME_RECIPE = {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "schedule": "constant"}
VIEWS = {
    "user": "as a user gets it: aezoo its recipe for this benchmark, every peer the tutorial recipe",
    "same": "same recipe for every library (Adam 1e-3, batch 128, constant LR): the training loop alone",
}


class Reached(Exception):
    """Raised from a library's callback to end its training at the target."""


class Checker(Clock):
    """Counts training samples, checks the test MSE every ``every`` samples with the clock paused."""

    def __init__(self, target: float, every: int, reconstruct: Callable, x_test, max_samples: int) -> None:
        super().__init__()
        self.target, self.every, self.reconstruct, self.x_test = target, every, reconstruct, x_test
        self.max_samples = max_samples
        self.first_step: float | None = None
        self.seen, self.next, self.mse, self.reached = 0, every, float("nan"), None

    def step(self, n: int) -> None:
        if self.first_step is None:
            self.first_step = self.elapsed()  # setup done (model, optimizer, data pipeline, first batch)
        self.seen += n
        if self.seen < self.next:
            return
        self.next += self.every
        with self.pause():
            import torch

            with torch.no_grad():
                err = sum(float(((self.reconstruct(x) - x) ** 2).sum()) for x in self.x_test.split(2000))
            self.mse = err / self.x_test.numel()
        if self.mse <= self.target:
            self.reached = self.elapsed()
            raise Reached
        if self.seen >= self.max_samples:
            raise Reached


# ----------------------------------------------------------------------------- the models, in torch
def torch_nets(model: str):
    """(encoder, decoder) as plain torch modules, layer for layer aezoo's ``mlp`` / ``conv``."""
    from torch import nn

    if model == "mlp":
        enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU())
        dec = nn.Sequential(nn.Linear(32, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
        return enc, dec
    enc = nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 16),
    )
    dec = nn.Sequential(
        nn.Linear(16, 64 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1),
        nn.Sigmoid(),
    )
    return enc, dec


# ----------------------------------------------------------------------------- one run per library
def aezoo_recipe(model: str, args: argparse.Namespace) -> dict:
    """aezoo's TrainConfig fields in this view: its own recipe (``user``) or the peers' (``same``)."""
    if getattr(args, "view", "user") == "same":
        return {"epochs": args.max_epochs, **SAME_RECIPE}
    return json.loads(args.aezoo_recipe) if args.aezoo_recipe else dict(AEZOO_RECIPES[model])


def run_aezoo(model: str, x_train, x_test, args: argparse.Namespace) -> Checker:
    import aezoo
    from aezoo.training import TrainConfig, Trainer

    recipe = aezoo_recipe(model, args)
    net = aezoo.create(model)
    check = Checker(TARGETS[model], args.check_every, lambda x: net(x).reconstruction, x_test, args.max_samples)
    config = TrainConfig(**recipe, seed=args.seed, device="cpu", val_fraction=0.0, log_every=10**9)

    def on_step(event) -> None:
        if event.kind == "step":
            try:
                check.step(config.batch_size)
            except Reached:
                event.trainer.should_stop = True

    Trainer(net, config, callbacks=[on_step], progress=False).fit(aezoo.DeviceDataset(x_train, name="mnist"))
    return check


def run_pythae(model: str, x_train, x_test, args: argparse.Namespace) -> Checker:
    from pythae.models import AE, AEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    class Encoder(BaseEncoder):
        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return ModelOutput(embedding=self.net(x))

    class Decoder(BaseDecoder):
        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    enc, dec = torch_nets(model)
    check = Checker(TARGETS[model], args.check_every, lambda x: dec(enc(x)), x_test, args.max_samples)
    batch = SAME_RECIPE["batch_size"]

    class Step(TrainingCallback):
        def on_train_step_end(self, training_config, **kwargs) -> None:
            enc.eval(), dec.eval()
            try:
                check.step(batch)
            finally:
                enc.train(), dec.train()

    ae = AE(AEConfig(input_dim=(1, 28, 28), latent_dim=32 if model == "mlp" else 16), Encoder(enc), Decoder(dec))
    with tempfile.TemporaryDirectory() as tmp:
        config = BaseTrainerConfig(
            output_dir=tmp,
            num_epochs=args.max_epochs,
            learning_rate=SAME_RECIPE["lr"],
            per_device_train_batch_size=batch,
            seed=args.seed,
            no_cuda=True,
        )
        with contextlib.suppress(Reached):
            TrainingPipeline(training_config=config, model=ae)(train_data=x_train, callbacks=[Step()])
    return check


def run_pyod(model: str, x_train, x_test, args: argparse.Namespace) -> Checker:
    from pyod.models.auto_encoder import AutoEncoder
    from torch import nn

    class SigmoidAutoEncoder(AutoEncoder):
        """PyOD's AutoEncoder (784-32-784 here) with the sigmoid output the other libraries use."""

        def build_model(self) -> None:
            super().build_model()
            self.model.decoder.append(nn.Sigmoid())

    detector = SigmoidAutoEncoder(
        hidden_neuron_list=[32],
        batch_norm=False,
        dropout_rate=0.0,
        preprocessing=False,
        lr=SAME_RECIPE["lr"],
        batch_size=SAME_RECIPE["batch_size"],
        epoch_num=args.max_epochs,
        optimizer_params={},
        random_state=args.seed,
        device="cpu",
        verbose=0,
    )

    def reconstruct(x):
        return detector.model(x.view(len(x), -1)).view_as(x)

    check = Checker(TARGETS[model], args.check_every, reconstruct, x_test, args.max_samples)
    step = detector.training_forward

    def training_forward(batch_data):
        loss = step(batch_data)
        detector.model.eval()
        try:
            check.step(len(batch_data))
        finally:
            detector.model.train()
        return loss

    detector.training_forward = training_forward
    with contextlib.suppress(Reached):
        detector.fit(x_train.view(len(x_train), -1).numpy())
    return check


def run_keras(model: str, x_train, x_test, args: argparse.Namespace) -> Checker:
    import keras
    from keras import layers

    keras.utils.set_random_seed(args.seed)
    if model == "mlp":
        net = keras.Sequential([keras.Input((784,)), layers.Dense(32, "relu"), layers.Dense(784, "sigmoid")])
        x_np = x_train.reshape(len(x_train), 784).numpy()

        def reconstruct(x):
            return net(x.reshape(len(x), 784), training=False).reshape(x.shape)
    else:
        net = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
                layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
                layers.Flatten(),
                layers.Dense(16),
                layers.Dense(7 * 7 * 64, activation="relu"),
                layers.Reshape((7, 7, 64)),
                layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
                layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid"),
            ]
        )
        x_np = x_train.permute(0, 2, 3, 1).numpy()

        def reconstruct(x):
            return net(x.permute(0, 2, 3, 1), training=False).permute(0, 3, 1, 2)

    check = Checker(TARGETS[model], args.check_every, reconstruct, x_test, args.max_samples)
    batch = SAME_RECIPE["batch_size"]

    class Step(keras.callbacks.Callback):
        def on_train_batch_end(self, step, logs=None) -> None:
            check.step(batch)

    net.compile(optimizer=keras.optimizers.Adam(SAME_RECIPE["lr"]), loss="mse")
    with contextlib.suppress(Reached):
        net.fit(x_np, x_np, batch_size=batch, epochs=args.max_epochs, shuffle=True, verbose=0, callbacks=[Step()])
    return check


RUNNERS = {"aezoo": run_aezoo, "pythae": run_pythae, "pyod": run_pyod, "keras": run_keras}


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(args: argparse.Namespace) -> None:
    """One library, one model, one seed; prints one JSON line."""
    import torch

    from aezoo.data import load_dataset

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train = load_dataset("mnist", "train", root=args.data_dir).x
    x_test = load_dataset("mnist", "test", root=args.data_dir).x
    # Warm-ups outside the clock: the first torch.optim optimizer imports torch._dynamo (seconds),
    # which every library but Keras (own optimizers) would otherwise pay inside its time.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    rss_data = _rss_mib()
    check = RUNNERS[args.library](args.model, x_train, x_test, args)
    train_s = check.elapsed() if check.reached is None else check.reached
    row = {
        "library": args.library,
        "model": args.model,
        "view": args.view,
        "seed": args.seed,
        "target": TARGETS[args.model],
        "time_to_target_s": check.reached,
        "setup_s": check.first_step,
        "samples_to_target": check.seen if check.reached is not None else None,
        "samples_seen": check.seen,
        "samples_per_s": check.seen / max(1e-9, train_s - (check.first_step or 0.0)),
        "final_test_mse": check.mse,
        "rss_after_data_mib": rss_data,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(row), flush=True)


# ----------------------------------------------------------------------------- the driver
def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "aezoo", "pythae", "pyod", "keras", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def summarise(result: dict) -> dict:
    summary: dict[str, dict] = {}
    for model in result["models"]:
        rows = {lib: [r for r in result["runs"] if r["model"] == model and r["library"] == lib] for lib in LIBRARIES}
        per: dict[str, dict] = {}
        for lib, runs in rows.items():
            if not runs:
                continue
            times = [r["time_to_target_s"] for r in runs]
            reached = all(t is not None for t in times)
            samples = [r["samples_to_target"] for r in runs]
            per[lib] = {
                "runs": len(runs),
                "median_time_s": statistics.median(times) if reached else None,
                "min_time_s": min(times) if reached else None,
                "max_time_s": max(times) if reached else None,
                "times_s": times,
                "median_samples_per_s": statistics.median(r["samples_per_s"] for r in runs),
                "median_setup_s": statistics.median(r.get("setup_s") or 0.0 for r in runs),
                "median_samples": statistics.median(samples) if reached else None,
                "min_samples": min(samples) if reached else None,
                "max_samples": max(samples) if reached else None,
                "median_peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
                "median_added_rss_mib": statistics.median(r["peak_rss_mib"] - r["rss_after_data_mib"] for r in runs),
            }
        ours = per.get("aezoo", {})
        for s in per.values():
            t, ot = s["median_time_s"], ours.get("median_time_s")
            s["aezoo_over_peer_time"] = ot / t if ot and t else None
            s["peer_over_aezoo_time"] = t / ot if ot and t else None  # >1: aezoo reached the target sooner
            speed, ospeed = s["median_samples_per_s"], ours.get("median_samples_per_s")
            s["aezoo_over_peer_samples_per_s"] = ospeed / speed if ospeed and speed else None  # the loop
            n, on = s["median_samples"], ours.get("median_samples")
            s["peer_over_aezoo_samples"] = n / on if on and n else None  # the recipe (and the seed's luck)
        summary[model] = per
    return summary


def render(result: dict) -> str:
    summary = summarise(result)
    lines = []
    for model, per in summary.items():
        lines += [
            "",
            f"**`{model}`**, target test MSE {TARGETS[model]}:",
            "",
            "| library | time to target (s): median (per seed) | aezoo / peer time | samples/s | samples to target "
            "| peak RSS (MiB) | RSS added by training (MiB) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for lib in LIBRARIES:
            if lib not in per:
                if model == "conv" and lib == "pyod":
                    lines.append("| pyod | no convolutional autoencoder in PyOD | | | | | |")
                continue
            s = per[lib]
            each = ", ".join(f"{t:.1f}" if t is not None else "not reached" for t in s["times_s"])
            med = f"{s['median_time_s']:.1f}" if s["median_time_s"] is not None else "not reached"
            ratio = f"{s['aezoo_over_peer_time']:.2f}" if s["aezoo_over_peer_time"] is not None else "-"
            samples = f"{s['median_samples']:,.0f}" if s["median_samples"] is not None else "-"
            name = f"**{lib}**" if lib == "aezoo" else lib
            lines.append(
                f"| {name} | {med} ({each}) | {ratio} | {s['median_samples_per_s']:,.0f} | {samples} "
                f"| {s['median_peak_rss_mib']:,.0f} | {s['median_added_rss_mib']:,.0f} |"
            )
    return "\n".join(lines).lstrip("\n")


def _view(result: dict) -> str:
    return result.get("view", "user")  # files from before the views were all "as a user gets it"


def _time_cell(s: dict) -> str:
    if s["median_time_s"] is None:
        reached = sum(t is not None for t in s["times_s"])
        return f"not reached ({reached} of {len(s['times_s'])} seeds did)"
    if len(s["times_s"]) == 1:
        return f"{s['median_time_s']:.1f}"
    return f"{s['median_time_s']:.1f} ({s['min_time_s']:.1f}–{s['max_time_s']:.1f})"


def _samples_cell(s: dict) -> str:
    if s["median_samples"] is None:
        return "-"
    if s["min_samples"] == s["max_samples"]:
        return f"{s['median_samples']:,.0f}"
    return f"{s['median_samples']:,.0f} ({s['min_samples'] / 1000:.0f}k–{s['max_samples'] / 1000:.0f}k)"


def _x(value: float | None) -> str:
    return f"{value:.1f}×" if value is not None else "-"


def render_views(results: list[dict]) -> str:
    """One table per model with the views of ``results`` side by side, then where aezoo's lead comes from.

    Each result is one ``--json`` file (or several of the same view, their runs pooled); its
    ``view`` says which columns it fills. Times are the median over seeds with their range;
    "peer ÷ aezoo time" above 1 means aezoo reached the target sooner. The second table splits
    that ratio: a time to the target is the setup (model, optimizer, data pipeline, first batch)
    plus the samples to the target over the samples/s, so the ratio is about the product of the
    samples/s ratio (the training loop) and the samples ratio (the recipe, in the user view) where
    the setups are small next to the training.
    """
    by_view: dict[str, dict] = {}
    for result in results:
        view = _view(result)
        if view in by_view:  # several files of one view: pool their runs and models
            old = by_view[view]
            models = old["models"] + [m for m in result["models"] if m not in old["models"]]
            by_view[view] = {**old, "models": models, "runs": old["runs"] + result["runs"]}
        else:
            by_view[view] = {**result, "runs": list(result["runs"])}
    views = [v for v in VIEWS if v in by_view] + [v for v in by_view if v not in VIEWS]
    summaries = {v: summarise(by_view[v]) for v in views}
    models = [m for m in TARGETS if any(m in summaries[v] for v in views)]
    lines: list[str] = []
    for model in models:
        seeds = sorted({r["seed"] for v in views for r in by_view[v]["runs"] if r["model"] == model})
        lines += ["", f"**`{model}`**, target test MSE {TARGETS[model]}, seeds {', '.join(map(str, seeds))}:", ""]
        head, rule = ["library"], ["---"]
        for v in views:
            name = "as a user gets it" if v == "user" else "same recipe" if v == "same" else v
            head += [
                f"{name}: time to target (s), median (min–max)",
                "peer ÷ aezoo time",
                "samples/s",
                "samples to target, median (min–max)",
            ]
            rule += ["---:"] * 4
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
        for lib in LIBRARIES:
            cells = [f"**{lib}**" if lib == "aezoo" else lib]
            present = False
            for v in views:
                s = summaries[v].get(model, {}).get(lib)
                if s is None:
                    note = "no convolutional autoencoder in PyOD" if model == "conv" and lib == "pyod" else "not run"
                    cells += [note, "", "", ""]
                    continue
                present = True
                ratio = "1.0×" if lib == "aezoo" else _x(s["peer_over_aezoo_time"])
                cells += [_time_cell(s), ratio, f"{s['median_samples_per_s']:,.0f}", _samples_cell(s)]
            if present or (model == "conv" and lib == "pyod"):
                lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "| peer | view | aezoo sooner by | aezoo's samples/s ÷ peer's | peer's samples to target ÷ aezoo's "
            "| setup before the first step (s), aezoo / peer |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for lib in LIBRARIES[1:]:
            for v in views:
                s = summaries[v].get(model, {}).get(lib)
                if s is None:
                    continue
                lines.append(
                    f"| {lib} | {v} | {_x(s['peer_over_aezoo_time'])} | {_x(s['aezoo_over_peer_samples_per_s'])} "
                    f"| {_x(s['peer_over_aezoo_samples'])} "
                    f"| {summaries[v][model]['aezoo']['median_setup_s']:.2f} / {s['median_setup_s']:.2f} |"
                )
    return "\n".join(lines).lstrip("\n")


def drive(args: argparse.Namespace) -> None:
    result = {
        "hardware": f"{platform.machine()} {os.cpu_count()} cores (shared with other jobs), {args.threads} thread(s) "
        "per run",
        "versions": versions(),
        "models": args.models,
        "seeds": args.seeds,
        "check_every": args.check_every,
        "view": args.view,
        "view_means": VIEWS[args.view],
        "aezoo_recipe": {model: aezoo_recipe(model, args) for model in args.models},
        "peer_recipe": {**SAME_RECIPE, "max_epochs": args.max_epochs},
        "runs": [],
    }
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": str(args.threads)}
    for model in args.models:
        libs = [lib for lib in args.libraries if not (model == "conv" and lib == "pyod")]
        for i, seed in enumerate(args.seeds):
            order = libs[i % len(libs) :] + libs[: i % len(libs)]  # who goes first rotates
            for lib in order:
                cmd = [sys.executable, __file__, "--worker", lib, "--model", model, "--seed", str(seed)]
                cmd += ["--data-dir", str(args.data_dir), "--threads", str(args.threads)]
                cmd += ["--check-every", str(args.check_every), "--max-epochs", str(args.max_epochs)]
                cmd += ["--max-samples", str(args.max_samples)]
                cmd += ["--aezoo-recipe", args.aezoo_recipe] if args.aezoo_recipe else []
                cmd += ["--view", args.view]
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    print(f"{lib} {model} seed {seed} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
                    continue
                row = json.loads(lines[-1][len("RESULT ") :])
                result["runs"].append(row)
                t = row["time_to_target_s"]
                print(
                    f"{model:5} seed {seed} {lib:7} time {t if t is None else round(t, 2)} s, "
                    f"{row['samples_per_s']:,.0f} samples/s, test MSE {row['final_test_mse']:.5f}, "
                    f"peak RSS {row['peak_rss_mib']:.0f} MiB",
                    flush=True,
                )
                if args.json:
                    args.json.write_text(json.dumps({**result, "summary": summarise(result)}, indent=2) + "\n")
    print()
    print(render(result))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--models", nargs="+", default=["mlp", "conv"], choices=sorted(TARGETS))
    p.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--check-every", type=int, default=6144, help="training samples between test-MSE checks")
    p.add_argument("--max-epochs", type=int, default=10, help="a peer's epoch limit")
    p.add_argument("--max-samples", type=int, default=600_000, help="give up after this many samples")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a run is killed")
    p.add_argument(
        "--aezoo-recipe",
        default=None,
        help="aezoo's TrainConfig fields, as JSON, for every model (default: AEZOO_RECIPES per model)",
    )
    p.add_argument(
        "--view",
        choices=sorted(VIEWS),
        default="user",
        help="user: each library as a user gets it (aezoo its recipe, peers the tutorial one); "
        "same: every library the tutorial recipe (Adam 1e-3, batch 128, constant), isolating the training loop",
    )
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--render", type=Path, nargs="+", default=None, help="print the tables of earlier --json files")
    p.add_argument("--worker", choices=LIBRARIES, dest="library", default=None, help=argparse.SUPPRESS)
    p.add_argument("--model", default="mlp", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.render:
        parts = [json.loads(path.read_text()) for path in args.render]
        if len({_view(part) for part in parts}) > 1:
            print(render_views(parts))  # the views side by side
        else:
            merged = {**parts[0], "models": [m for part in parts for m in part["models"]]}
            merged["runs"] = [r for part in parts for r in part["runs"]]
            print(render(merged))
    elif args.data_dir is None:
        p.error("--data-dir is required unless --render is given")
    elif args.view == "same" and args.aezoo_recipe:
        p.error("--aezoo-recipe sets aezoo's recipe of the user view; --view same gives every library the same one")
    elif args.library:
        worker(args)
    else:
        drive(args)


if __name__ == "__main__":
    main()
