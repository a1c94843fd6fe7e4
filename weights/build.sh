#!/usr/bin/env bash
# Train and bundle the pretrained weights in weights/, with aezoo's own commands.
#
#   bash weights/build.sh NAME [NAME ...]      # e.g. bash weights/build.sh mlp-mnist conv-mnist
#   bash weights/build.sh all
#
# Run from the repository root with aezoo installed. MNIST/Fashion-MNIST come from $DATA
# (default ../shared/data; any folder in torchvision's layout, or leave DATA empty to download).
# DEVICE (default cpu, as every bundled model was trained) picks the device, e.g. on a GPU:
#   DEVICE=cuda bash weights/build.sh deep-mnist
# Each model is trained by `aezoo train` (or `aezoo pretrain`), then `aezoo bundle` evaluates it on
# the test split and writes metrics.json, eval.json, the figures and the model card, which lists
# the exact commands below. Then `python weights/manifest.py` refreshes aezoo's pretrained entries.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA-../shared/data}"
DEVICE="${DEVICE:-cpu}"
data=(); [ -n "$DATA" ] && data=(--data-dir "$DATA")

recipe() {  # NAME DATASET -- TRAIN COMMAND...
    local name="$1" dataset="$2"; shift 3
    local out="weights/$name"
    local train=("$@" --dataset "$dataset" "${data[@]}" --device "$DEVICE" --seed 0 -q --out "$out")
    local bundle=(aezoo bundle "$out" --name "$name" --dataset "$dataset" "${data[@]}" ${NLL:+--nll-samples "$NLL"})
    rm -rf "$out"
    echo "== $name: ${train[*]}"
    "${train[@]}"
    "${bundle[@]}" --reproduce "${train[*]}" --reproduce "${bundle[*]}"
}

build() {
    case "$1" in
    linear-mnist) recipe "$1" mnist -- aezoo train linear --epochs 30 --batch-size 256 --lr 3e-3 --schedule cosine ;;
    mlp-mnist) recipe "$1" mnist -- aezoo train mlp --epochs 50 --batch-size 256 --lr 1e-3 --schedule cosine --warmup 0.1 \
        --set loss=bce ;;
    stacked-mnist) recipe "$1" mnist -- aezoo train stacked --epochs 80 --batch-size 256 --lr 2e-3 --schedule cosine \
        --set l2=0 --set output_activation=sigmoid --set loss=bce ;;
    tied-mnist) recipe "$1" mnist -- aezoo train tied --epochs 60 --batch-size 256 --lr 2e-3 --schedule cosine \
        --set l2=0 ;;
    denoising-mnist) recipe "$1" mnist -- aezoo train denoising --epochs 40 --batch-size 256 --lr 2e-3 \
        --schedule cosine --set 'dims=[784,256,32]' --set activation=relu --set code_activation=linear --set tied=false ;;
    sparse-mnist) recipe "$1" mnist -- aezoo train sparse --epochs 40 --batch-size 256 --lr 2e-3 --schedule cosine \
        --set 'dims=[784,256,64]' --set activation=relu --set code_activation=relu --set penalty=l1 --set beta=1e-3 ;;
    vae-mnist) NLL=1000 recipe "$1" mnist -- aezoo train vae --epochs 60 --batch-size 128 --lr 1e-3 \
        --schedule cosine --set binarize=true ;;
    aae-mnist) recipe "$1" mnist -- aezoo train aae --epochs 20 --batch-size 256 --lr 1e-3 --schedule constant \
        --set 'hidden_dims=[512,512]' --set 'disc_hidden_dims=[512,512]' ;;
    conv-mnist) recipe "$1" mnist -- aezoo train conv --epochs 30 --batch-size 128 --lr 3e-3 --schedule onecycle \
        --set 'channels=[32,64,128]' ;;
    conv-fashion-mnist) recipe "$1" fashion-mnist -- aezoo train conv --epochs 30 --batch-size 128 --lr 3e-3 \
        --schedule onecycle --set 'channels=[32,64,128]' ;;
    deep-mnist) recipe "$1" mnist -- aezoo pretrain --dims 784,1000,500,250,30 --kind denoising --noise 0.2 --layer-epochs 20 \
        --finetune-epochs 80 --finetune-set shift=1 ;;
    *) echo "unknown weights name '$1'; see the case list in $0" >&2; exit 2 ;;
    esac
}

names=("$@")
if [ "${names[0]:-}" = all ]; then
    names=(linear-mnist mlp-mnist stacked-mnist tied-mnist denoising-mnist sparse-mnist vae-mnist aae-mnist
           conv-mnist conv-fashion-mnist deep-mnist)
fi
[ ${#names[@]} -gt 0 ] || { echo "usage: $0 NAME [NAME ...] | all" >&2; exit 2; }
for name in "${names[@]}"; do build "$name"; done
