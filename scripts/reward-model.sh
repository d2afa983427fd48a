#!/usr/bin/env bash
# Rebuilds the shipped reward model from nothing and measures it (docs/reward.md):
#   1. records the datasets (scripts/record-reward-data.sh)
#   2. trains models/prm_base with `stack` left out, and the single-view baseline
#   3. evaluates both (+ the blind time regressor) on the held-out seeds
#   4. measures the done operating point of a one-shot adapted model without touching
#      `stack`: trains a second base model without `open_drawer`, adapts it to `open_drawer`
#      from one demo and calibrates that model on the other `open_drawer` episodes
#   5. adapts prm_base to `stack` from one expert demo with that operating point and
#      evaluates it on every other `stack` episode.
# Usage: scripts/reward-model.sh   (needs `make build`; 1-2 hours on 2 CPU cores: three 6000-step trainings)
set -euo pipefail
bin=${STRIATUM:-target/debug/striatum}
data=${DATA:-data/reward}
out=${OUT:-runs/reward}
steps=${STEPS:-6000}
mkdir -p "$out"
scripts/record-reward-data.sh "$data"
base="$data/base/push_cube,$data/base/reach,$data/base/pick_place,$data/base/open_drawer"
"$bin" reward train --data "$base" --out models/prm_base --steps "$steps" --eval-every 500 --fresh
"$bin" reward train --data "$base" --out "$out/prm_front" --views front --steps "$steps" \
    --eval-every 500 --fresh
"$bin" reward eval --model models/prm_base --data "$base" --baselines \
    --baseline-model "$out/prm_front" --json "$out/eval_base.json" | tee "$out/eval_base.txt"
# The adapted model's done operating point, measured on a task held out of a second base
# model (one demonstration cannot calibrate it; `stack` stays untouched until the end).
others="$data/base/push_cube,$data/base/reach,$data/base/pick_place"
"$bin" reward train --data "$others" --out "$out/prm_no_drawer" --steps "$steps" --eval-every 500 --fresh
drawer_demo="$data/base/open_drawer/episodes/000000"
grep -q '"variant": "expert"' "$drawer_demo/episode.json"
"$bin" reward adapt --model "$out/prm_no_drawer" --demo "$drawer_demo" --out "$out/prm_drawer" \
    | tee "$out/adapt_drawer.txt"
"$bin" reward calibrate --model "$out/prm_drawer" --data "$data/base/open_drawer" --split all \
    --exclude "$drawer_demo" --done-k 2,3,4,5,6,8 | tee "$out/calibrate_drawer.txt"
demo="$data/heldout/stack/episodes/000000"
grep -q '"variant": "expert"' "$demo/episode.json"
"$bin" reward adapt --model models/prm_base --demo "$demo" --out "$out/prm_stack" \
    --done-from "$out/prm_drawer" | tee "$out/adapt_stack.txt"
"$bin" reward eval --model "$out/prm_stack" --data "$data/heldout/stack" --split all \
    --exclude "$demo" --baselines --json "$out/eval_stack.json" | tee "$out/eval_stack.txt"
"$bin" reward eval --model models/prm_base --data "$data/heldout/stack" --split all \
    --exclude "$demo" --no-per-view --json "$out/eval_stack_unadapted.json" \
    | tee "$out/eval_stack_unadapted.txt"
"$bin" reward bench --model models/prm_base | tee "$out/bench.txt"
