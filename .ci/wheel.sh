#!/usr/bin/env bash
# The zoo as users install it (issue 10), run by .ci/run with the CI venv active, no network:
# start the local Hub, `aezoo release` aezoo's bundles and the example plugin's to it, build both
# wheels, install them (not editable) into a fresh venv in a temp folder with no weights/ in reach,
# then check from there: every pretrained name is listed; conv-mnist and contractive-mnist download,
# verify and give outputs identical to the bundles; offline loads work from the cache; a tampered
# cached weights file or config.json is refused with one WeightsError. About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset PYTHONPATH  # what runs below is the copy being released, then the installed wheels
tmp="$(mktemp -d)"
hub_pid=""
cleanup() {
    [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
ci_python="$(command -v python)"
site="$("$ci_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

echo "== a copy of the source to release from (release pins commits in the manifests it ships)"
mkdir -p "$tmp/src"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tmp/src"

echo "== the local Hub"
export HF_HOME="$tmp/hf" HF_HUB_CACHE="$tmp/hf/hub" HF_TOKEN="hf_ci_token" HF_HUB_DISABLE_XET=1 \
    HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_UPDATE_CHECK=1
"$ci_python" -c '
import sys, time
from aezoo.testing.hub_server import LocalHub
hub = LocalHub(token="hf_ci_token").start()
open(sys.argv[1], "w").write(hub.url)
while True:
    time.sleep(3600)
' "$tmp/hub_url" &
hub_pid=$!
for _ in $(seq 100); do [ -s "$tmp/hub_url" ] && break; sleep 0.1; done
export HF_ENDPOINT="$(cat "$tmp/hub_url")"
echo "local Hub at $HF_ENDPOINT"

echo "== aezoo release (aezoo's bundles, then the plugin's)"
(cd "$tmp/src" && PYTHONPATH="$tmp/src" aezoo release)
(cd "$tmp/src/plugins/aezoo-contractive" && PYTHONPATH="$tmp/src" aezoo release --weights weights \
    --manifest aezoo_contractive/pretrained.json --org aezoo-contrib --package aezoo-contractive)
echo "-- again: nothing changes"
again="$(cd "$tmp/src" && PYTHONPATH="$tmp/src" aezoo release)"
if grep -q published <<<"$again"; then echo "FAIL: a second release published again:" >&2; echo "$again" >&2; exit 1; fi

echo "== wheels"
"$ci_python" -m pip wheel -q --no-deps --no-build-isolation -w "$tmp/dist" "$tmp/src" "$tmp/src/plugins/aezoo-contractive"
ls "$tmp/dist"

echo "== a fresh venv in an empty folder, the wheels installed (their dependencies come from the CI venv)"
python3 -m venv "$tmp/venv"
mkdir "$tmp/deps"
for p in "$site"/*; do  # every installed package of the CI venv except aezoo and the plugin
    case "$(basename "$p")" in
    aezoo* | __editable__* | *.pth | _aezoo* | pip | pip-* ) ;;
    *) ln -s "$p" "$tmp/deps/" ;;
    esac
done
venv_site="$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$tmp/deps" > "$venv_site/ci-deps.pth"
"$tmp/venv/bin/python" -m pip install -q --no-deps --no-index "$tmp"/dist/*.whl
mkdir "$tmp/user"
cd "$tmp/user"
export PATH="$tmp/venv/bin:$PATH"
python - "$root" <<'PY'
import sys, aezoo
from pathlib import Path
assert Path(aezoo.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), aezoo.__file__
assert not (Path(aezoo.__file__).resolve().parents[1] / "weights").exists()
print("aezoo from", aezoo.__file__)
PY

echo "== aezoo list --pretrained lists all"
listed="$(aezoo list --pretrained)"
echo "$listed"
want=$(ls -d "$root"/weights/*/model.safetensors "$root"/plugins/aezoo-contractive/weights/*/model.safetensors | wc -l)
got=$(grep -cE '^[a-z0-9-]+ ' <<<"$listed")
[ "$got" -eq "$want" ] || { echo "FAIL: $got pretrained names listed, $want bundles" >&2; exit 1; }

check() {  # check MODE: download | offline | tampered-weights | tampered-config
    python - "$root" "$1" <<'PY'
import sys, torch, aezoo
from pathlib import Path
root, mode = Path(sys.argv[1]), sys.argv[2]
bundles = {"conv-mnist": root / "weights/conv-mnist",
           "contractive-mnist": root / "plugins/aezoo-contractive/weights/contractive-mnist"}
x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
for name, bundle in bundles.items():
    try:
        model = aezoo.load(name)
    except aezoo.WeightsError as e:
        assert mode.startswith("tampered") and "tampered" in str(e), f"{mode}: {e}"
        print(f"{name}: {mode}: refused with one WeightsError: {e}")
        continue
    assert not mode.startswith("tampered"), f"{name}: a tampered cache was loaded"
    with torch.no_grad():
        same = torch.equal(model(x).reconstruction, aezoo.load(bundle)(x).reconstruction)
    assert same, f"{name}: outputs differ from the bundle"
    print(f"{name}: {mode}: loaded {type(model).__name__}, outputs identical to {bundle}")
PY
}
echo "== download, verify, identical outputs"
check download
echo "== offline, from the cache (the Hub is stopped)"
kill "$hub_pid"; hub_pid=""
HF_HUB_OFFLINE=1 check offline
echo "== a tampered cached file or config is refused"
snap() { ls -d "$HF_HUB_CACHE"/models--"$1"/snapshots/*/; }
w="$(readlink -f "$(snap aezoo--conv-mnist)model.safetensors")"
cp "$w" "$tmp/w.bak"
printf 'x' | dd of="$w" bs=1 seek=200 conv=notrunc status=none
c="$(readlink -f "$(snap aezoo-contrib--contractive-mnist)config.json")"
sed -i 's/"sigmoid"/"linear"/' "$c"
HF_HUB_OFFLINE=1 check tampered-weights
cp "$tmp/w.bak" "$w"
sed -i 's/"latent_dim": 16/"latent_dim": 17/' "$(readlink -f "$(snap aezoo--conv-mnist)config.json")"
HF_HUB_OFFLINE=1 check tampered-config
echo "wheel: ok"
