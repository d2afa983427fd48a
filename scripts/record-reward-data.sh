#!/usr/bin/env bash
# Records the datasets the shipped reward model is trained and evaluated on (docs/reward.md).
# Usage: scripts/record-reward-data.sh [OUT_DIR]   (default data/reward; needs `make build`)
# Base tasks go to OUT/base/<task>; `stack` is kept out of base training and recorded to
# OUT/heldout/stack for one-shot adaptation (its seed 0 expert episode is the demo).
set -euo pipefail
out=${1:-data/reward}
bin=${STRIATUM:-target/debug/striatum}
variants=expert,noisy,partial,regress,fail
record() { # scene robot episodes dir
    if [[ -f "$4/dataset.json" ]] && [[ $(ls "$4/episodes" | wc -l) -ge $(( $3 * 5 )) ]]; then
        echo "$4: already recorded"; return
    fi
    rm -rf "$4"
    "$bin" sim record --scene "sim_scenes/$1.toml" --robot "$2" --episodes "$3" \
        --variants "$variants" --hold 12 --max-steps 100 --no-depth --out "$4"
}
record push_cube so101 30 "$out/base/push_cube"
record reach panda 20 "$out/base/reach"
record pick_place panda 30 "$out/base/pick_place"
record open_drawer panda 30 "$out/base/open_drawer"
record stack panda 20 "$out/heldout/stack"
