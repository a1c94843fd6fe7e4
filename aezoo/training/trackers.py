"""The experiment trackers a run can log to, each through the tracker's own library.

A tracker is any object with the six methods of :class:`Logger`; :mod:`~aezoo.training.tracking`
calls them in order (``log_params`` first, ``close`` last). The four here cover TensorBoard
(``torch.utils.tensorboard``), MLflow (``mlflow``'s client), Weights & Biases (``wandb``) and a
dependency-free CSV folder. Each library is imported when a logger is built (so a missing one
fails before training starts, with the ``pip install`` line that fixes it) and never by
``import aezoo``. Nothing is written before ``log_params``: a run first takes its ``--out``.
"""

from __future__ import annotations

import csv
import importlib
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from ..core.config import dumps_json
from ..core.errors import MissingDependencyError
from ..io.serialization import atomic_write

__all__ = ["CSVLogger", "Logger", "MLflowLogger", "TensorBoardLogger", "WandbLogger", "flatten"]


@runtime_checkable
class Logger(Protocol):
    """What a tracker implements; ``image`` is ``uint8`` ``(C, H, W)``, ``files`` a model folder's files."""

    def log_params(self, params: Mapping[str, Any]) -> None: ...  # first call: opens the run
    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None: ...
    def log_image(self, tag: str, image: Tensor, step: int) -> None: ...
    def log_summary(self, metrics: Mapping[str, float]) -> None: ...  # the run's final numbers
    def log_artifact(self, files: Sequence[Path], name: str) -> None: ...
    def close(self, failed: bool = False) -> None: ...


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}``; lists and tuples stay values."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _need(module: str, extra: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"--log {extra} logs to {what}, which needs the {module.split('.')[0]!r} package ({e}); "
            f'run: pip install "aezoo[{extra}]"'
        ) from None


def _hwc(image: Tensor) -> Any:
    return image.detach().cpu().permute(1, 2, 0).numpy()


class TensorBoardLogger:
    """Event files for ``tensorboard --logdir DIR``: scalars, images, the parameters as text and hparams."""

    def __init__(self, directory: str | Path) -> None:
        self._tb = _need("torch.utils.tensorboard", "tensorboard", "TensorBoard")
        self.directory = Path(directory)
        self._writer: Any = None
        self._params: dict[str, Any] = {}

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._writer = self._tb.SummaryWriter(str(self.directory))
        self._params = flatten(params)
        self._writer.add_text("params", f"```json\n{dumps_json(dict(params))}\n```", 0)

    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, value, step)

    def log_image(self, tag: str, image: Tensor, step: int) -> None:
        self._writer.add_image(tag, image, step, dataformats="CHW")

    def log_summary(self, metrics: Mapping[str, float]) -> None:
        """The HPARAMS tab: every parameter beside the final metrics, in this run's own event file."""
        from torch.utils.tensorboard.summary import hparams

        plain = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in self._params.items()}
        writer = self._writer._get_file_writer()  # SummaryWriter.add_hparams would write a second run folder
        for summary in hparams(plain, dict(metrics)):
            writer.add_summary(summary)
        for tag, value in metrics.items():
            self._writer.add_scalar(tag, value, 0)

    def log_artifact(self, files: Sequence[Path], name: str) -> None:
        self._writer.add_text(name, "\n".join(f"* `{f}`" for f in files), 0)  # TensorBoard keeps no files

    def close(self, failed: bool = False) -> None:
        if self._writer is not None:
            self._writer.close()


class MLflowLogger:
    """An MLflow run: params, metric histories, images and the model folder as artifacts.

    The tracking store is ``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else a SQLite store
    ``DIR/mlflow.db`` with artifacts in ``DIR/artifacts`` (``mlflow ui --backend-store-uri
    sqlite:///DIR/mlflow.db``). The experiment is ``experiment``, ``$MLFLOW_EXPERIMENT_NAME`` or ``aezoo``.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
    ) -> None:
        self._mlflow = _need("mlflow", "mlflow", "MLflow")
        self.directory = Path(directory)
        self.tracking_uri, self.experiment, self.run_name = tracking_uri, experiment, run_name
        self._client: Any = None
        self.run_id: str | None = None
        self._step = 0

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.environment_variables import MLFLOW_EXPERIMENT_NAME, MLFLOW_TRACKING_URI

        uri, artifacts = self.tracking_uri or (MLFLOW_TRACKING_URI.get() if MLFLOW_TRACKING_URI.defined else None), None
        if uri is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            uri = f"sqlite:///{(self.directory / 'mlflow.db').resolve()}"
            artifacts = (self.directory / "artifacts").resolve().as_uri()
        self._client = self._mlflow.tracking.MlflowClient(tracking_uri=uri)
        name = self.experiment or MLFLOW_EXPERIMENT_NAME.get() or "aezoo"
        experiment = self._client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self._client.create_experiment(name, artifacts)
        self.run_id = self._client.create_run(experiment_id, run_name=self.run_name).info.run_id
        flat = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(flat), 100):  # MLflow takes at most 100 params per batch
            self._client.log_batch(self.run_id, params=flat[i : i + 100])

    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now, self._step = int(time.time() * 1000), step
        self._client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in scalars.items()])

    def log_image(self, tag: str, image: Tensor, step: int) -> None:
        self._client.log_image(self.run_id, _hwc(image), key=tag, step=step)

    def log_summary(self, metrics: Mapping[str, float]) -> None:
        self.log_scalars(metrics, self._step)

    def log_artifact(self, files: Sequence[Path], name: str) -> None:
        for f in files:
            self._client.log_artifact(self.run_id, str(f), artifact_path=name)

    def close(self, failed: bool = False) -> None:
        if self.run_id is not None:
            self._client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


class WandbLogger:
    """A Weights & Biases run in ``DIR/wandb``; online, offline or disabled as ``mode`` or ``$WANDB_MODE`` says.

    ``init`` holds more keyword arguments of ``wandb.init`` (``entity``, ``tags``, ``group``...).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        project: str = "aezoo",
        name: str | None = None,
        mode: str | None = None,
        **init: Any,
    ) -> None:
        self._wandb = _need("wandb", "wandb", "Weights & Biases")
        self.directory = Path(directory)
        self._init = {"project": project, "name": name, "mode": mode, **init}
        self.run: Any = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        settings = self._wandb.Settings(console="off")  # aezoo's own lines are not the run's to capture
        self.run = self._wandb.init(
            dir=str(self.directory), config=dict(params), reinit="create_new", settings=settings, **self._init
        )

    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        self.run.log(dict(scalars), step=step)

    def log_image(self, tag: str, image: Tensor, step: int) -> None:
        self.run.log({tag: self._wandb.Image(_hwc(image))}, step=step)

    def log_summary(self, metrics: Mapping[str, float]) -> None:
        self.run.summary.update(dict(metrics))

    def log_artifact(self, files: Sequence[Path], name: str) -> None:
        artifact = self._wandb.Artifact(re.sub(r"[^\w.-]", "-", f"{name}-{self.run.id}"), type="model")
        for f in files:
            artifact.add_file(str(f))
        self.run.log_artifact(artifact)

    def close(self, failed: bool = False) -> None:
        if self.run is not None:
            self.run.finish(exit_code=1 if failed else 0)


class CSVLogger:
    """No dependency: ``DIR/scalars.csv`` (``step,tag,value,time``), ``params.json``, ``images/``, ``summary.json``.

    Rows are appended and flushed one call at a time, so a killed run keeps what it logged;
    ``append=True`` (a resumed run) continues an existing ``scalars.csv``.
    """

    HEADER = ("step", "tag", "value", "time")

    def __init__(self, directory: str | Path, *, append: bool = False) -> None:
        self.directory = Path(directory)
        self.append = append
        self._file: Any = None
        self._summary: dict[str, Any] = {"metrics": {}, "artifacts": {}}

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.directory / "params.json", "w") as f:
            f.write(dumps_json(dict(params)))
        path = self.directory / "scalars.csv"
        fresh = not (self.append and path.is_file())
        self._file = path.open("w" if fresh else "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if fresh:
            self._writer.writerow(self.HEADER)

    def log_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        now = round(time.time(), 3)
        self._writer.writerows((step, tag, repr(float(v)), now) for tag, v in scalars.items())
        self._file.flush()

    def log_image(self, tag: str, image: Tensor, step: int) -> None:
        from PIL import Image

        folder = self.directory / "images"
        folder.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]", "_", tag)
        Image.fromarray(_hwc(image)).save(folder / f"{name}_{step:08d}.png")

    def log_summary(self, metrics: Mapping[str, float]) -> None:
        self._summary["metrics"].update(metrics)

    def log_artifact(self, files: Sequence[Path], name: str) -> None:
        self._summary["artifacts"][name] = [str(f) for f in files]

    def close(self, failed: bool = False) -> None:
        if self._file is None:
            return
        self._file.close()
        with atomic_write(self.directory / "summary.json", "w") as f:
            f.write(dumps_json({**self._summary, "status": "failed" if failed else "finished"}))


def read_csv(directory: str | Path) -> list[dict[str, Any]]:
    """The rows of a :class:`CSVLogger`'s ``scalars.csv``, values as floats."""
    with (Path(directory) / "scalars.csv").open(newline="", encoding="utf-8") as f:
        return [{**row, "step": int(row["step"]), "value": float(row["value"])} for row in csv.DictReader(f)]
