"""Publish and pull through the real huggingface_hub client against the local Hub (no internet)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import aezoo
from aezoo.cli.main import cli
from aezoo.core.errors import HubError, WeightsError
from aezoo.hub import publish, pull
from aezoo.io.pretrained import Pretrained
from aezoo.io.serialization import WEIGHTS_NAME, sha256_file
from aezoo.loading.loader import load_from_hub, load_pretrained
from aezoo.testing.plugin import hub_offline

METRICS = {"mse": 0.0123, "psnr": 19.5}
# huggingface_hub's own LFS upload passes a file object as `data=`, which httpx2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture(autouse=True)
def _builtin_architectures_only(monkeypatch) -> None:
    # These tests are about the Hub: a broken third-party plugin in the environment is not their concern.
    monkeypatch.setenv("AEZOO_DISABLE_PLUGIN_AUTOLOAD", "1")


def _model_dir(root: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model = aezoo.create("linear")
    d = model.save_pretrained(
        root / f"model{seed}", training={"command": "aezoo train linear", "seed": seed}, dataset="mnist"
    )
    (d / "metrics.json").write_text(json.dumps(METRICS))
    (d / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return d


def _outputs(model: aezoo.Autoencoder) -> torch.Tensor:
    torch.manual_seed(0)
    return model(torch.rand(3, *model.input_shape)).reconstruction


def _entry(repo: str, commit: str, sha: str, name: str = "linear-test") -> Pretrained:
    return Pretrained(
        name=name,
        architecture="linear",
        repo_id=repo,
        revision=commit,
        sha256=sha,
        config={"latent_dim": 2},
        dataset="mnist",
        metrics=METRICS,
    )


@pytest.fixture
def published(local_hub, tmp_path):
    """A repo with two commits of different weights: (repo, [commit1, commit2], [dir1, dir2])."""
    dirs = [_model_dir(tmp_path, 1), _model_dir(tmp_path, 2)]
    commits = [publish(d, "org/lin", commit_message=f"v{i}") for i, d in enumerate(dirs)]
    return "org/lin", commits, dirs


def test_publish_pull_load_bit_identical(published, local_hub) -> None:
    from huggingface_hub import ModelCard

    from aezoo.io.cards import card_metrics

    repo, (c1, c2), (_d1, d2) = published
    assert all(len(c) == 40 for c in (c1, c2)) and c1 != c2
    assert local_hub.commits(repo)[:2] == [c2, c1]
    path = pull(f"{repo}@{c2}")
    assert sorted(p.name for p in path.iterdir()) == [
        ".gitattributes",
        "README.md",
        "config.json",
        "loss.png",
        "metrics.json",
        "model.safetensors",
    ]
    assert (path / WEIGHTS_NAME).read_bytes() == (d2 / WEIGHTS_NAME).read_bytes()
    loaded = aezoo.load(f"hf-hub:{repo}@{c2}")
    assert torch.equal(_outputs(loaded), _outputs(aezoo.load(d2)))
    # The card: Hub metadata that parses back, metrics in model-index, figures linked.
    card = ModelCard((path / "README.md").read_text())
    assert card.data.library_name == "aezoo" and card.data.license == "mit"
    assert {"autoencoder", "aezoo", "linear", "mnist"} <= set(card.data.tags) and card.data.datasets == ["mnist"]
    assert card_metrics(card) == METRICS
    assert card_metrics(ModelCard.load(path / "README.md")) == METRICS
    assert "![loss](loss.png)" in card.text and f'aezoo.load("hf-hub:{repo}' in card.text
    assert "aezoo train linear" in card.text and sha256_file(d2 / WEIGHTS_NAME) in card.text


def test_pinning_an_older_commit_gives_the_older_bytes(published) -> None:
    repo, (c1, _c2), (d1, d2) = published
    assert sha256_file(d1 / WEIGHTS_NAME) != sha256_file(d2 / WEIGHTS_NAME)
    old = load_from_hub(f"{repo}@{c1}")
    assert torch.equal(_outputs(old), _outputs(aezoo.load(d1)))
    assert torch.equal(_outputs(aezoo.load(f"hf-hub:{repo}")), _outputs(aezoo.load(d2)))
    assert (pull(repo, revision=c1) / WEIGHTS_NAME).read_bytes() == (d1 / WEIGHTS_NAME).read_bytes()


def test_a_class_loads_a_hub_repo_strictly_into_itself(published) -> None:
    from aezoo.models.conv import ConvAE
    from aezoo.models.linear import LinearAE

    repo, (c1, _c2), (d1, _d2) = published
    model = LinearAE.from_pretrained(f"hf-hub:{repo}@{c1}")
    assert type(model) is LinearAE and torch.equal(_outputs(model), _outputs(aezoo.load(d1)))
    with pytest.raises(WeightsError, match=r"'linear' model, not a ConvAE \('conv'\)"):
        ConvAE.from_pretrained(f"hf-hub:{repo}", revision=c1)


def test_cli_publish_and_pull(local_hub, hub_token, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN")  # the token comes from --token only
    d = _model_dir(tmp_path, 3)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["publish", str(d), "--repo", "org/cli", "--token", hub_token, "--branch", "dev", "--message", "first"]
    )
    assert result.exit_code == 0, result.output
    commit, pinned = result.stdout.split()
    assert pinned == f"hf-hub:org/cli@{commit}" and local_hub.commits("org/cli", "dev")[0] == commit
    assert hub_token not in result.output
    monkeypatch.setenv("HF_TOKEN", hub_token)
    result = runner.invoke(cli, ["pull", "org/cli@dev"])
    assert result.exit_code == 0, result.output
    path, sha_line = result.stdout.splitlines()
    assert Path(path, WEIGHTS_NAME).read_bytes() == (d / WEIGHTS_NAME).read_bytes()
    assert sha_line.split()[1] == sha256_file(d / WEIGHTS_NAME)
    assert hub_token not in result.output


def test_token_never_shown_in_errors(local_hub, hub_token, tmp_path, monkeypatch) -> None:
    wrong = "hf_wrong_" + hub_token[::-1]
    monkeypatch.setenv("HF_TOKEN", wrong)
    result = CliRunner().invoke(cli, ["publish", str(_model_dir(tmp_path, 4)), "--repo", "org/x", "--token", wrong])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot publish to org/x") and "401" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert wrong not in result.output and hub_token not in result.output
    assert hub_token not in repr(local_hub.requests) and wrong not in repr(local_hub.requests)


def test_offline_uses_the_cache_and_explains_when_it_cannot(published, local_hub, monkeypatch) -> None:
    repo, (c1, _c2), (d1, d2) = published
    pull(f"{repo}@{c1}")
    pull(repo)  # main -> c2, remembered for offline loads of the branch
    local_hub.down = True
    hub_offline(monkeypatch)
    assert torch.equal(_outputs(aezoo.load(f"hf-hub:{repo}@{c1}")), _outputs(aezoo.load(d1)))
    assert torch.equal(_outputs(aezoo.load(f"hf-hub:{repo}")), _outputs(aezoo.load(d2)))
    assert pull(f"{repo}@{c1}").is_dir()
    with pytest.raises(HubError) as info:
        aezoo.load("hf-hub:org/never-pulled@main")
    msg = str(info.value)
    for part in ("org/never-pulled@main", "HF cache", "aezoo pull", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_TOKEN"):
        assert part in msg


def test_hub_down_fails_fast_with_one_clear_error(published, local_hub, monkeypatch) -> None:
    repo, (c1, _), _ = published
    for fault in ("refused", "503", "slow"):
        if fault == "refused":
            local_hub.down = True
        elif fault == "503":
            local_hub.down, local_hub.fail_status = False, 503
        else:
            local_hub.fail_status, local_hub.delay = None, 10.0
            monkeypatch.setenv("AEZOO_HUB_TIMEOUT", "1")
        start = time.monotonic()
        with pytest.raises(HubError) as info:
            load_from_hub(f"{repo}@{c1}")
        # not a speed test: gives up at the 1 s timeout instead of waiting out the 10 s server or ~20 s of retries
        assert time.monotonic() - start < 6, fault
        msg = str(info.value)
        assert f"{repo}@{c1}" in msg and local_hub.url in msg and "aezoo pull" in msg, msg
    local_hub.delay = 0


def test_missing_repo_revision_or_file(local_hub, published) -> None:
    from huggingface_hub import HfApi

    repo, _, _ = published
    HfApi().create_repo("org/empty")
    cases = {
        "org/nope": "was not found",
        f"{repo}@{'0' * 40}": "does not exist in org/lin",
        f"{repo}@no-such-branch": "revision 'no-such-branch' does not exist",
        "org/empty": "model.safetensors does not exist in org/empty",
    }
    for spec, expected in cases.items():
        with pytest.raises(HubError, match="cannot load") as info:
            load_from_hub(spec)
        assert expected in str(info.value) and "Fix:" in str(info.value), str(info.value)
    with pytest.raises(HubError, match="was not found"):
        pull("org/nope")


def test_tampered_cache_is_never_loaded(published, local_hub) -> None:
    repo, (c1, _), (d1, _) = published
    cached = pull(f"{repo}@{c1}") / WEIGHTS_NAME
    cached.write_bytes(cached.read_bytes()[:-4] + b"evil")  # through the snapshot's link: the cached bytes
    local_hub.down = True
    with pytest.raises(WeightsError, match="tampered") as info:
        aezoo.load(f"hf-hub:{repo}@{c1}")
    assert str(cached) in str(info.value)
    local_hub.down = False  # the Hub has the right bytes: they replace the bad copy
    assert torch.equal(_outputs(aezoo.load(f"hf-hub:{repo}@{c1}")), _outputs(aezoo.load(d1)))
    assert sha256_file(cached) == sha256_file(d1 / WEIGHTS_NAME)


def test_interrupted_download_leaves_nothing_to_accept(published, local_hub) -> None:
    repo, (c1, _), (d1, _) = published
    from huggingface_hub import scan_cache_dir

    local_hub.truncate_downloads = 1  # the client resumes with a Range request; the bytes are verified
    assert torch.equal(_outputs(load_from_hub(f"{repo}@{c1}")), _outputs(aezoo.load(d1)))
    assert not scan_cache_dir().incomplete_files


def test_pretrained_resolution(published, local_hub, tmp_path, monkeypatch) -> None:
    repo, (c1, _), (d1, _) = published
    sha = sha256_file(d1 / WEIGHTS_NAME)
    entry = _entry(repo, c1, sha)
    bundled = tmp_path / "bundled" / entry.name
    shutil.copytree(d1, bundled)
    monkeypatch.setenv("AEZOO_WEIGHTS_DIR", str(tmp_path / "bundled"))
    # A tampered bundled copy with the Hub down and an empty cache: an error naming the file.
    (bundled / WEIGHTS_NAME).write_bytes((d1 / WEIGHTS_NAME).read_bytes()[:-1] + b"!")
    local_hub.down = True
    with pytest.raises(WeightsError, match="tampered") as info:
        load_pretrained(entry)
    assert str(bundled / WEIGHTS_NAME) in str(info.value)
    # With the Hub up, the pinned bytes come from there, and the bad copy is reported.
    local_hub.down = False
    with pytest.warns(UserWarning, match="ignored"):
        model = load_pretrained(entry)
    assert torch.equal(_outputs(model), _outputs(aezoo.load(d1)))
    # A wrong pin is an error even when the Hub answers.
    with pytest.raises(WeightsError):
        load_pretrained(_entry(repo, c1, "0" * 64, name="wrong-pin"))
    # `aezoo publish NAME` republishes a pretrained entry to its own repo by default.
    from aezoo.registry import architectures as registry

    shutil.copytree(d1, bundled, dirs_exist_ok=True)
    registry.list_models()
    monkeypatch.setitem(registry._REGISTRY._pretrained, entry.name, entry)
    result = CliRunner().invoke(cli, ["publish", entry.name, "--branch", "republished"])
    assert result.exit_code == 0, result.output
    commit = result.stdout.split()[0]
    assert local_hub.file_bytes(repo, WEIGHTS_NAME, commit) == (d1 / WEIGHTS_NAME).read_bytes()


def test_bundled_pretrained_never_touches_the_network(tmp_path, monkeypatch) -> None:
    """No server at all: a verified bundled copy loads, through aezoo.load(NAME) too."""
    from huggingface_hub.utils import _http

    from aezoo.registry import architectures as registry

    d = _model_dir(tmp_path, 5)
    entry = _entry("org/lin", "a" * 40, sha256_file(d / WEIGHTS_NAME), name="linear-bundled")
    shutil.copytree(d, tmp_path / "weights" / entry.name)
    monkeypatch.setenv("AEZOO_WEIGHTS_DIR", str(tmp_path / "weights"))

    def no_network():
        raise AssertionError("the network was used")

    monkeypatch.setattr(_http, "_GLOBAL_CLIENT_FACTORY", no_network)
    _http.close_session()
    assert torch.equal(_outputs(load_pretrained(entry)), _outputs(aezoo.load(d)))
    registry.list_models()
    monkeypatch.setitem(registry._REGISTRY._pretrained, entry.name, entry)
    assert torch.equal(_outputs(aezoo.load(entry.name)), _outputs(aezoo.load(d)))


# ---------------------------------------------------------------------- only the folder's own files (issue 23, item 1)
def _token_file(hub_token: str) -> Path:
    """The user's Hugging Face token file (`hf auth login` writes it), holding the token."""
    from huggingface_hub import constants

    path = Path(constants.HF_TOKEN_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(hub_token)
    return path


def _repo_files(repo: str, commit: str) -> list[str]:
    from huggingface_hub import HfApi

    return sorted(s.rfilename for s in HfApi().model_info(repo, revision=commit).siblings or [])


@pytest.mark.parametrize("case", ["eval-json-links-the-token", "figure-links-a-private-file", "fifo", "linked-figures"])
def test_publish_refuses_links_and_special_files(local_hub, hub_token, tmp_path, case) -> None:
    d = _model_dir(tmp_path, 6)
    private = tmp_path / "private"
    private.mkdir()
    (private / "holiday.png").write_bytes(b"\x89PNG private " + hub_token.encode())
    name = {"eval-json-links-the-token": "eval.json", "fifo": "history.json", "linked-figures": "figures"}.get(
        case, "recon.png"
    )
    if case == "eval-json-links-the-token":
        (d / name).symlink_to(_token_file(hub_token))
    elif case == "figure-links-a-private-file":
        (d / name).symlink_to(private / "holiday.png")
    elif case == "fifo":
        os.mkfifo(d / name)  # opening it would block: the check must not
    else:
        (d / name).symlink_to(private, target_is_directory=True)
    start = time.monotonic()
    with pytest.raises(WeightsError, match="does not publish") as info:
        publish(d, "org/leak")
    assert name in str(info.value) and hub_token not in str(info.value)
    result = CliRunner().invoke(cli, ["publish", str(d), "--repo", "org/leak"])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and name in result.output, result.output
    assert hub_token not in result.output and "hf-hub:" not in result.output
    with pytest.raises(WeightsError, match="does not publish"):
        aezoo.publish(d, "org/leak")
    assert time.monotonic() - start < 10
    assert local_hub.repo_ids() == []  # refused before the repository was created


def test_publish_uploads_only_the_allow_list_and_never_a_token(local_hub, hub_token, tmp_path) -> None:
    d = _model_dir(tmp_path, 7)
    token_file = _token_file(hub_token)
    (d / "notes.txt").symlink_to(token_file)  # not on the allow-list: left out, not followed
    (d / "token").write_text(hub_token)
    (d / "figures").mkdir()
    (d / "figures" / "curve.svg").write_text("<svg/>")
    (d / "figures" / "secrets.txt").write_text(hub_token)
    commit = publish(d, "org/only")
    files = _repo_files("org/only", commit)
    assert [f for f in files if f != ".gitattributes"] == sorted(
        ["README.md", "config.json", "figures/curve.svg", "loss.png", "metrics.json", WEIGHTS_NAME]
    )
    for f in files:
        assert hub_token.encode() not in local_hub.file_bytes("org/only", f, commit), f
    # A known name that holds the token (a hard link to the token file) is refused, token unshown.
    (d / "eval.json").unlink(missing_ok=True)
    os.link(token_file, d / "eval.json")
    with pytest.raises(WeightsError, match="holds a Hugging Face token") as info:
        publish(d, "org/only-2")
    assert hub_token not in str(info.value) and "org/only-2" not in local_hub.repo_ids()


def test_a_pretrained_name_from_the_hf_cache_is_republished_from_its_verified_files(
    published, local_hub, monkeypatch
) -> None:
    """The cache's snapshot files link to blobs outside the folder: aezoo copies the verified files out first."""
    from aezoo.registry import architectures as registry

    repo, (c1, _), (d1, _) = published
    entry = _entry(repo, c1, sha256_file(d1 / WEIGHTS_NAME), name="linear-cached")
    monkeypatch.setenv("AEZOO_WEIGHTS_DIR", "")
    assert (pull(f"{repo}@{c1}") / WEIGHTS_NAME).is_symlink()
    registry.list_models()
    monkeypatch.setitem(registry._REGISTRY._pretrained, entry.name, entry)
    commit = aezoo.publish(entry.name, "org/again")
    assert local_hub.file_bytes("org/again", WEIGHTS_NAME, commit) == (d1 / WEIGHTS_NAME).read_bytes()
