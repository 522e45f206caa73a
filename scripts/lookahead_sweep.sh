#!/usr/bin/env bash
# The quality-versus-latency sweep of `facestream eval`: causal models at look-ahead
# 0, 1, 2, 3, 4 frames and an offline (bidirectional) model of the same size, all trained with
# the same budget (STEPS) on the same corpus, two at a time (one thread each), then evaluated
# in one run beside the neutral and energy baselines and the shipped model's checkpoint
# (SHIPPED, default runs/default2/calibrated.pt; see the README's model card).
#   STEPS=400 bash scripts/lookahead_sweep.sh
set -euo pipefail
STEPS=${STEPS:-400}
PY=${PY:-.venv/bin/python}
CORPUS=${CORPUS:-build/corpus}
common=(--config configs/default.json --set steps=$STEPS --set time_limit_min=0 --set threads=1
        --set corpus=$CORPUS --set ckpt_every=$STEPS)
run() {  # name, extra --set args...
  local name=$1; shift
  OMP_NUM_THREADS=1 $PY -m facestream train "${common[@]}" --set out=runs/sweep/$name "$@" \
    > runs/sweep/$name.log 2>&1
}
mkdir -p runs/sweep
run L0 --set model.lookahead=0 & run L1 --set model.lookahead=1 & wait
run L2 --set model.lookahead=2 & run L3 --set model.lookahead=3 & wait
run L4 --set model.lookahead=4 & run offline --set model.lookahead=0 --set model.offline=true & wait
models=()
for m in L0 L1 L2 L3 L4; do models+=(--model runs/sweep/$m/model.pt); done
SHIPPED=${SHIPPED:-runs/default2/calibrated.pt}
[ -f "$SHIPPED" ] && models+=(--shipped "$SHIPPED")
$PY -m facestream eval --corpus $CORPUS "${models[@]}" --offline runs/sweep/offline/model.pt \
  --limit ${LIMIT:-150} --json ${OUT:-out}/eval.json --markdown ${OUT:-out}/eval.md \
  --plot ${OUT:-out}/eval_latency.png
