#!/usr/bin/env bash
# Rebuild the shipped encoder (fastrlap/assets/encoder.pt): collect the prior dataset with JOBS
# collectors side by side (seeds 0..JOBS-1, FRAMES frames in all), then run offline IQL on it.
#
#   scripts/reproduce_encoder.sh DATA_DIR OUT_DIR [iql overrides, e.g. steps=2000 device=cpu]
#
# The shipped file was made with the defaults below on one GPU (docs/experiments/encoder.md);
# the same commands run on a CPU, only slower. Copy OUT_DIR/encoder.pt to fastrlap/assets/ to ship it.
# Its prior data predates today's collect defaults, so the collectors pin what it saw: the three
# first prior environments on the clean camera look.
set -euo pipefail
DATA=${1:?usage: reproduce_encoder.sh DATA_DIR OUT_DIR [overrides]}
OUT=${2:?usage: reproduce_encoder.sh DATA_DIR OUT_DIR [overrides]}
shift 2
JOBS=${JOBS:-15}
FRAMES=${FRAMES:-154000}
FASTRLAP=${FASTRLAP:-fastrlap}
per=$(( (FRAMES + JOBS - 1) / JOBS ))
mkdir -p "$DATA"
if [ ! -f "$DATA/COMPLETE" ]; then
    pids=()
    for s in $(seq 0 $((JOBS - 1))); do
        rm -rf "$DATA/s$s"
        OMP_NUM_THREADS=1 $FASTRLAP pretrain collect seed="$s" steps="$per" out="$DATA/s$s" \
            "envs=[campus,warehouse,trail]" look=clean \
            > "$DATA/collect-s$s.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || { echo "collector seed $i failed:"; tail -3 "$DATA/collect-s$i.log"; exit 1; }
    done
    tail -qn1 "$DATA"/collect-s*.log
    touch "$DATA/COMPLETE"
fi
# TRAIN_TIMEOUT (s), if set, stops training with Ctrl-C then; the encoder so far is still written.
${TRAIN_TIMEOUT:+timeout -s INT "$TRAIN_TIMEOUT"} $FASTRLAP pretrain train data="$DATA" out="$OUT" "$@"
