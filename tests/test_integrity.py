"""A pin covers the whole model, loading is bounded, and Hub transfers have a deadline (issue 11, items 1-2).

Every case here fails on the loading stack before that issue: an edited config.json beside pinned
weights loaded silently, float16/int8 tensors were cast, NaN weights loaded, a huge config was
allocated before the header was read, a trickling server held a load for minutes, a 500 took ~25 s
of retries, and bytes other than the advertised ones were kept.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import aezoo
from aezoo.cli.main import cli
from aezoo.core.errors import HubError, WeightsError
from aezoo.hub import hub_timeout, publish, pull
from aezoo.io import serialization
from aezoo.io.pretrained import Pretrained
from aezoo.io.serialization import CONFIG_NAME, WEIGHTS_NAME, sha256_file
from aezoo.loading.loader import load_dir, load_from_hub, load_pretrained
from aezoo.testing.plugin import hub_offline

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture(autouse=True)
def _builtin_only(monkeypatch) -> None:
    monkeypatch.setenv("AEZOO_DISABLE_PLUGIN_AUTOLOAD", "1")


def _model_dir(root: Path, name: str = "lin", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = aezoo.create("mlp", dims=[784, 8])
    model.preprocessing = aezoo.Preprocessing(scale=1 / 255)
    return model.save_pretrained(root / name)


def _entry(d: Path, *, name: str = "lin-test", repo: str = "org/lin", revision: str | None = None) -> Pretrained:
    data = json.loads((d / CONFIG_NAME).read_text())
    return Pretrained(
        name=name,
        architecture="mlp",
        repo_id=repo,
        revision=revision,
        sha256=sha256_file(d / WEIGHTS_NAME),
        config=data["config"],
        preprocessing=data["preprocessing"],
    )


def _edit_config(d: Path, **changes: object) -> None:
    data = json.loads((d / CONFIG_NAME).read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        data[section][field] = value
    (d / CONFIG_NAME).write_text(json.dumps(data))


def _rewrite_weights(d: Path, fn) -> None:
    from safetensors.torch import load_file

    tensors = {k: fn(v) for k, v in load_file(d / WEIGHTS_NAME).items()}
    save_file(tensors, d / WEIGHTS_NAME)


def _outputs(model: aezoo.Autoencoder) -> torch.Tensor:
    torch.manual_seed(0)
    return model(torch.rand(3, *model.input_shape)).reconstruction


# ---------------------------------------------------------------------- the pin covers config and preprocessing
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config__output_activation": "linear"}, "changes the pinned config: output_activation='linear'"),
        ({"config__activation": "tanh"}, "changes the pinned config"),
        ({"preprocessing__scale": 1.0}, "changes the pinned preprocessing"),
        ({"config__dims": [784, 3]}, "changes the pinned config: dims=[784, 3]"),
    ],
)
def test_tampered_bundled_config_is_refused(tmp_path, monkeypatch, change, message) -> None:
    d = _model_dir(tmp_path / "weights", "lin-test")
    entry = _entry(d)
    monkeypatch.setenv("AEZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    hub_offline(monkeypatch)  # no other source: the error names the bad file
    assert torch.equal(_outputs(load_pretrained(entry)), _outputs(load_dir(d)))
    _edit_config(d, **change)
    with pytest.raises(WeightsError, match="tampered") as info:
        load_pretrained(entry)
    assert message in str(info.value) and str(d) in str(info.value)


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (lambda d: (d / WEIGHTS_NAME).write_bytes((d / WEIGHTS_NAME).read_bytes()[:-1] + b"!"), "sha256"),
        (lambda d: _edit_config(d, config__activation="tanh"), "changes the pinned config"),
    ],
    ids=["sha256-mismatch", "config-differs"],
)
def test_a_skipped_bundled_copy_is_reported_once_per_load(tmp_path, monkeypatch, tamper, why) -> None:
    """A tampered copy in the first $AEZOO_WEIGHTS_DIR folder, the pinned one in the second (issue 23, item 5)."""
    bad = _model_dir(tmp_path / "first", "lin-test")
    good = _model_dir(tmp_path / "second", "lin-test")
    entry = _entry(good)
    tamper(bad)
    monkeypatch.setenv("AEZOO_WEIGHTS_DIR", os.pathsep.join([str(tmp_path / "first"), str(tmp_path / "second")]))
    hub_offline(monkeypatch)
    for _ in range(2):
        with pytest.warns(UserWarning) as caught:
            model = load_pretrained(entry)
        skipped = [w for w in caught if "ignored" in str(w.message)]
        assert len(skipped) == 1, [str(w.message) for w in caught]
        assert str(bad) in str(skipped[0].message) and why in str(skipped[0].message)
        assert str(good) in str(skipped[0].message)
        assert torch.equal(_outputs(model), _outputs(load_dir(good)))


def test_tampered_config_in_the_hf_cache_is_refused(local_hub, tmp_path) -> None:
    d = _model_dir(tmp_path)
    commit = publish(d, "org/lin")
    entry = _entry(d, revision=commit)
    folder = pull(f"org/lin@{commit}")
    config = (folder / CONFIG_NAME).resolve()
    text = config.read_text().replace('"sigmoid"', '"linear"')
    assert '"linear"' in text
    config.write_text(text)
    local_hub.down = True
    for load in (lambda: load_pretrained(entry), lambda: aezoo.load(f"hf-hub:org/lin@{commit}")):
        with pytest.raises(WeightsError, match="tampered") as info:
            load()
        assert CONFIG_NAME in str(info.value)
    local_hub.down = False  # online, the Hub's bytes replace the edited copy
    assert torch.equal(_outputs(load_pretrained(entry)), _outputs(load_dir(d)))


def test_a_hub_copy_that_is_not_the_pinned_model_is_refused(local_hub, tmp_path) -> None:
    d = _model_dir(tmp_path)
    _edit_config(d, config__output_activation="linear")
    commit = publish(d, "org/lin")
    pinned = _entry(_model_dir(tmp_path, "orig"), revision=commit)  # same weights, other config
    with pytest.raises(WeightsError, match="not the pinned model"):
        load_pretrained(pinned)


# ---------------------------------------------------------------------- the header is checked first
@pytest.mark.parametrize("dtype", [torch.float16, torch.int8, torch.bool, torch.float64])
def test_weights_of_another_dtype_are_not_cast(tmp_path, dtype) -> None:
    d = _model_dir(tmp_path)
    _rewrite_weights(d, lambda t: t.to(dtype))
    with pytest.raises(WeightsError, match="dtype mismatches") as info:
        load_dir(d)
    assert "never casts" in str(info.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, value) -> None:
    d = _model_dir(tmp_path)
    _rewrite_weights(d, lambda t: torch.full_like(t, value) if t.dim() == 2 else t)
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_dir(d)


@pytest.mark.parametrize("latent_dim", [10**6, 10**9])
def test_a_huge_config_is_refused_before_any_allocation(tmp_path, latent_dim) -> None:
    d = _model_dir(tmp_path)
    _edit_config(d, config__dims=[784, latent_dim])
    start = time.monotonic()
    with pytest.raises(WeightsError, match="parameters; the file holds") as info:
        load_dir(d)  # 10**9 x 784 float32 would be ~3 TB: reaching the allocator is a crash, not this error
    assert f"{784 * latent_dim * 2 + latent_dim + 784:,} parameters" in str(info.value)
    assert time.monotonic() - start < 5


def test_header_and_config_mismatch_names_the_tensors(tmp_path) -> None:
    d = _model_dir(tmp_path)
    _rewrite_weights(d, lambda t: t[:1] if t.dim() == 2 else t)
    with pytest.raises(WeightsError, match="shape mismatches"):
        load_dir(d)
    (d / WEIGHTS_NAME).unlink()
    save_file({"other.weight": torch.zeros(2, 2)}, d / WEIGHTS_NAME)
    with pytest.raises(WeightsError, match=r"missing tensors .*unexpected tensors"):
        load_dir(d)


def test_file_and_header_sizes_are_bounded(tmp_path, monkeypatch) -> None:
    d = _model_dir(tmp_path)
    monkeypatch.setenv("AEZOO_MAX_WEIGHTS_BYTES", "1000")
    with pytest.raises(WeightsError, match="AEZOO_MAX_WEIGHTS_BYTES"):
        load_dir(d)
    monkeypatch.delenv("AEZOO_MAX_WEIGHTS_BYTES")
    (d / WEIGHTS_NAME).write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(WeightsError, match="header claims"):
        load_dir(d)
    (d / WEIGHTS_NAME).write_bytes(b"\x01")
    with pytest.raises(WeightsError, match="truncated"):
        load_dir(d)


# ---------------------------------------------------------------------- Hub transfers with a deadline
def _no_partial_files() -> None:
    from huggingface_hub import scan_cache_dir

    left = scan_cache_dir(_cache()).incomplete_files
    assert not left, left


def _cached(name: str) -> list[Path]:
    """Every copy of ``name`` the HF cache holds, at any revision of any repo."""
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(_cache())
    return [f.file_path for repo in info.repos for rev in repo.revisions for f in rev.files if f.file_name == name]


@pytest.fixture
def published(local_hub, tmp_path):
    d = _model_dir(tmp_path)
    return d, publish(d, "org/lin")


def _cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def test_a_trickling_server_is_cut_off_at_the_deadline(published, local_hub, monkeypatch) -> None:
    d, commit = published
    local_hub.trickle = 0.05  # 16 KB at 64 B / 50 ms: ~13 s, each read answered well within any read timeout
    start = time.monotonic()
    with pytest.raises(HubError, match="deadline") as info:
        load_from_hub(f"org/lin@{commit}", timeout=1.5)
    assert time.monotonic() - start < 4
    assert "AEZOO_HUB_TIMEOUT" in str(info.value)
    monkeypatch.setenv("AEZOO_HUB_TIMEOUT", "1.5")
    start = time.monotonic()
    with pytest.raises(HubError, match="deadline"):
        pull(f"org/lin@{commit}")
    assert time.monotonic() - start < 4
    local_hub.trickle = 0
    _no_partial_files()
    assert torch.equal(_outputs(load_from_hub(f"org/lin@{commit}")), _outputs(load_dir(d)))


def test_a_publish_the_hub_never_answers_stops_at_the_deadline(local_hub, tmp_path, monkeypatch) -> None:
    """Issue 23, item 2: the server takes the connection and does not answer; publish used to wait for it."""
    d = _model_dir(tmp_path)
    local_hub.delay = 5.0  # every request: accepted, then silence longer than the deadline
    start = time.monotonic()
    with pytest.raises(HubError, match="did not confirm") as info:
        publish(d, "org/slow", timeout=0.5)
    assert time.monotonic() - start < 4
    assert "AEZOO_HUB_TIMEOUT" in str(info.value) and "--timeout" in str(info.value)
    for args, env in ((["--timeout", "0.5"], None), ([], "0.5")):
        if env:
            monkeypatch.setenv("AEZOO_HUB_TIMEOUT", env)
        start = time.monotonic()
        result = CliRunner().invoke(cli, ["publish", str(d), "--repo", "org/slow", *args])
        assert time.monotonic() - start < 4, result.output
        assert result.exit_code == 1 and "did not confirm" in result.output, result.output
        assert "hf-hub:" not in result.output  # an unconfirmed commit is never printed as published
    local_hub.delay = 0


@pytest.mark.parametrize("fault", ["down", "500"])
def test_a_dead_or_failing_hub_fails_in_seconds(published, local_hub, fault) -> None:
    _, commit = published
    if fault == "down":
        local_hub.down = True
    else:
        local_hub.fail_status = 500
    for call in (lambda: load_from_hub(f"org/lin@{commit}"), lambda: pull("org/lin"), lambda: pull("org/lin@main")):
        start = time.monotonic()
        with pytest.raises(HubError) as info:
            call()
        assert time.monotonic() - start < 3, str(info.value)  # no ~25 s of client retries
        assert "Fix:" in str(info.value)
    local_hub.fail_status = None


def test_wrong_bytes_are_never_kept(published, local_hub) -> None:
    d, commit = published
    local_hub.corrupt_downloads = 1
    with pytest.raises(WeightsError, match="do not match the hash the Hub advertises"):
        load_from_hub(f"org/lin@{commit}")
    _no_partial_files()
    assert not _cached(WEIGHTS_NAME)
    local_hub.corrupt_downloads = 1
    result = CliRunner().invoke(cli, ["pull", f"org/lin@{commit}"])
    assert result.exit_code == 1 and "not kept" in result.output, result.output
    assert not _cached(WEIGHTS_NAME)
    # The right bytes, once the server sends them, load.
    assert torch.equal(_outputs(load_from_hub(f"org/lin@{commit}")), _outputs(load_dir(d)))


def test_a_pin_the_hub_does_not_advertise_is_refused_before_downloading(published, local_hub) -> None:
    _d, commit = published
    entry = Pretrained(
        name="lin-wrong", architecture="mlp", repo_id="org/lin", revision=commit, sha256="0" * 64, config={}
    )
    with pytest.raises(WeightsError, match="advertises sha256"):
        load_pretrained(entry)
    assert ("GET", f"/org/lin/resolve/{commit}/{WEIGHTS_NAME}") not in local_hub.requests


def test_the_deadline_is_configurable_and_checked(monkeypatch) -> None:
    monkeypatch.delenv("AEZOO_HUB_TIMEOUT", raising=False)
    assert hub_timeout() == 30.0
    monkeypatch.setenv("AEZOO_HUB_TIMEOUT", "7")
    assert hub_timeout() == 7.0 and hub_timeout(2) == 2.0
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv("AEZOO_HUB_TIMEOUT", bad)
        with pytest.raises(HubError, match="AEZOO_HUB_TIMEOUT"):
            hub_timeout()


def test_offline_after_one_download_and_pinned_entry_default_branch(published, local_hub, monkeypatch) -> None:
    d, _commit = published
    entry = _entry(d)  # revision None: not released at a commit, the default branch is used
    assert torch.equal(_outputs(load_pretrained(entry)), _outputs(load_dir(d)))
    served = len(local_hub.requests)  # the cached copy is the pinned model: the Hub is not asked again
    assert torch.equal(_outputs(load_pretrained(entry)), _outputs(load_dir(d)))
    assert len(local_hub.requests) == served
    local_hub.down = True
    hub_offline(monkeypatch)
    assert torch.equal(_outputs(load_pretrained(entry)), _outputs(load_dir(d)))
    shutil.rmtree(_cache())
    with pytest.raises(HubError, match="offline"):
        load_pretrained(entry)


@pytest.mark.slow  # a fresh interpreter
def test_importing_the_loading_stack_sets_no_environment_variables() -> None:
    import subprocess
    import sys

    code = (
        "import os; before = dict(os.environ); import aezoo.hub.transport, aezoo.loading.loader, aezoo.hub.release; "
        "print(sorted(set(os.environ.items()) ^ set(before.items())))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_saved_files_get_the_umask_permissions_not_mkstemps(tmp_path, monkeypatch, umask, expected) -> None:
    """Atomic writes go through mkstemp (mode 0o600); a saved model must be as readable as open() makes files."""
    previous = os.umask(umask)
    try:
        assert serialization._umask() == umask  # what the module reads once, at import
    finally:
        os.umask(previous)
    monkeypatch.setattr(serialization, "_UMASK", umask)
    aezoo.create("linear").save_pretrained(tmp_path / "run")
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == expected, name


def test_a_pinned_load_hashes_the_weights_file_once_besides_the_bytes_it_loads(monkeypatch) -> None:
    """resolve() hashes the file to pick a source; load_dir hashes the bytes it reads, not the file again."""
    from aezoo.hub import pins

    calls: list[Path] = []

    def counting(path):
        calls.append(Path(path))
        return sha256_file(path)

    monkeypatch.setattr(pins, "sha256_file", counting)
    aezoo.load("linear-mnist")
    assert [p.name for p in calls] == [WEIGHTS_NAME]
