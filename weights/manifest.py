"""Refresh aezoo's pretrained entries (aezoo/pretrained.json) from the bundles in weights/, offline.

    python weights/manifest.py --readme                # after bash weights/build.sh ...
    aezoo release                                      # publish the bundles and pin their commits

Each entry pins the sha256 of the bundle's model.safetensors, its architecture, config and
preprocessing, and its test metrics (from metrics.json, written by `aezoo bundle`): the same entry
`aezoo release` writes (aezoo.hub.release.bundle_entry). The revision is the Hub commit `aezoo release`
pins; until a bundle is released it is null (loads then use the repo's default branch, still
checked against the sha256 and the config).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aezoo.hub.release import bundle_entry
from aezoo.io.serialization import sha256_file

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "aezoo" / "pretrained.json"
ORG = "aezoo"

DESCRIPTIONS = {
    "linear-mnist": "linear AE, 2-d code: the PCA subspace, learned",
    "mlp-mnist": "784-32-784, ReLU code, sigmoid output",
    "stacked-mnist": "784-300-150-300-784, ELU, He init, L2 penalty",
    "tied-mnist": "stacked with tied weights",
    "denoising-mnist": "784-256-32 denoiser, 25 % masking noise",
    "sparse-mnist": "784-256-64 with an L1 penalty on the code",
    "vae-mnist": "VAE, 20-d latent, dynamically binarised MNIST",
    "aae-mnist": "adversarial AE, 8-d code matched to a Gaussian prior",
    "conv-mnist": "convolutional AE, 16-d code",
    "conv-fashion-mnist": "convolutional AE, 16-d code, Fashion-MNIST",
    "deep-mnist": "784-1000-500-250-30, layer-wise pretrained (Hinton & Salakhutdinov 2006)",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--revision", action="append", default=[], metavar="NAME=COMMIT")
    p.add_argument("--table", action="store_true", help="also print the markdown table of the bundles")
    p.add_argument("--readme", action="store_true", help="write that table into README.md between its zoo-table marks")
    args = p.parse_args()
    old = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}
    revisions = dict(item.split("=", 1) for item in args.revision)
    entries = {}
    for bundle in sorted((ROOT / "weights").iterdir()):
        if not (bundle / "model.safetensors").is_file():
            continue
        name = bundle.name
        sha = sha256_file(bundle / "model.safetensors")
        previous = old.get(name, {})
        revision = revisions.get(name) or (previous.get("revision") if previous.get("sha256") == sha else None)
        entry = bundle_entry(bundle, org=ORG, previous={"description": DESCRIPTIONS.get(name, "")})
        entries[name] = {**entry, "revision": revision}  # revision: None until `aezoo release` pins a commit
    MANIFEST.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    print(f"{MANIFEST.relative_to(ROOT)}: {len(entries)} entries ({', '.join(entries)})")
    if args.table:
        print(table(entries))
    if args.readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        start, end = "<!-- zoo-table: python weights/manifest.py --table -->\n", "<!-- /zoo-table -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        readme.write_text(head + start + table(entries) + "\n" + end + tail)
        print("README.md: zoo table updated")


def table(entries: dict) -> str:
    """Markdown: each bundle's test metrics, next to what the card's hardware and time say."""
    rows = [
        "| name | architecture | code | test MSE | SSE/image | more | trained on | time |",
        "|---|---|---:|---:|---:|---|---|---:|",
    ]
    for name, e in entries.items():
        m = e["metrics"]
        config = json.loads((ROOT / "weights" / name / "config.json").read_text())
        training = config.get("training", {})
        code = e["config"].get("latent_dim") or e["config"].get("dims", [None])[-1]
        more = []
        if "nll" in m:
            more.append(f"NLL {m['nll']:.2f} nats ({int(m['nll_samples'])} samples)")
        if "psnr_denoised" in m:
            more.append(f"PSNR noisy {m['psnr_noisy']:.1f} → {m['psnr_denoised']:.1f} dB")
        hw = str(training.get("hardware", "")).split(",")[0]
        minutes = (config.get("layerwise") or training).get("wall_s", training.get("wall_time_s", 0)) / 60
        rows.append(
            f"| `{name}` | {e['architecture']} | {code} | {m['mse']:.5f} | {m['sse_per_image']:.2f} | "
            f"{'; '.join(more)} | {hw} | {minutes:.1f} min |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
