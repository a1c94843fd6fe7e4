#!/usr/bin/env bash
# Plugins end to end, run by .ci/run after the main suite with the venv active: install the example
# plugin and a freshly scaffolded one, run their own tests, check `aezoo list` / `aezoo plugins`
# show them with distribution and version, then uninstall both. About a minute on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

tmp="$(mktemp -d)"
cleanup() {
    python -m pip uninstall -q -y aezoo-contractive aezoo-ciexample >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Builds run without isolation (no download of build tools per package): the venv needs a modern setuptools.
python -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 68)' 2>/dev/null \
    || python -m pip install -q "setuptools>=68" wheel
pip_install() { python -m pip install -q --no-deps --no-build-isolation -e "$1"; }

echo "== example plugin: plugins/aezoo-contractive"
pip_install plugins/aezoo-contractive
(cd plugins/aezoo-contractive && python -m pytest -q -p no:cacheprovider)

echo "== scaffolded plugin: aezoo new-plugin aezoo-ciexample"
aezoo new-plugin aezoo-ciexample --dir "$tmp/aezoo-ciexample"
pip_install "$tmp/aezoo-ciexample"
(cd "$tmp/aezoo-ciexample" && python -m pytest -q -p no:cacheprovider)

echo "== both are listed with distribution and version"
list="$(aezoo list)"
plugins="$(aezoo plugins)"
expect() {  # expect TEXT PATTERN WHAT
    if ! grep -Eq "$2" <<<"$1"; then
        echo "FAIL: $3 not found; got:" >&2
        echo "$1" >&2
        exit 1
    fi
}
expect "$list" '^contractive .*\[aezoo-contractive 0\.1\.0\]$' "'aezoo list' line for contractive"
expect "$list" '^ciexample .*\[aezoo-ciexample 0\.1\.0\]$' "'aezoo list' line for ciexample"
expect "$plugins" '^contractive +aezoo-contractive 0\.1\.0  loaded$' "'aezoo plugins' line for contractive"
expect "$plugins" '^ciexample +aezoo-ciexample 0\.1\.0  loaded$' "'aezoo plugins' line for ciexample"
expect "$(aezoo list --pretrained)" '^contractive-mnist ' "'aezoo list --pretrained' line for contractive-mnist"
echo "plugins: ok"
