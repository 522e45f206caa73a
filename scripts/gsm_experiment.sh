#!/usr/bin/env bash
# Issue 12's GSM experiment (docs/eval/closure_probe.md, point 3): does training with the
# GSM 06.10 codec in the augmentation carry the lips-closed output over to the unseen real
# speakers, whose prompts are GSM-coded, without losing the synthetic voices?
# Every step resumes or is skipped when its output exists, so rerun the same command after an
# interruption. On a fresh 2-core machine the corpus build alone takes about 35 min and the
# whole script about 1.5 hours: start it first, in the background:
#   nohup bash scripts/gsm_experiment.sh > out/gsm.log 2>&1 &
set -euo pipefail
PY=${PY:-.venv/bin/python}
CORPUS=${CORPUS:-build/corpus}
RUN=${RUN:-runs/gsm2}           # the config's "out"
OUT=${OUT:-out/gsm}
LIMIT=${LIMIT:-60}
mkdir -p "$OUT"
$PY -m facestream data build -o "$CORPUS"                                  # resumes
$PY -m facestream train --config configs/gsm_stage2.json --set corpus="$CORPUS" \
  --set out="$RUN"                                                          # resumes
[ -f "$RUN/calibrated.pt" ] || $PY -m facestream calibrate "$RUN/model.pt" \
  -o "$RUN/calibrated.pt" --limit 80 --threads 2
$PY -m facestream eval --corpus "$CORPUS" --shipped facestream/assets/default_model.pt \
  --model "$RUN/calibrated.pt" --splits test --limit "$LIMIT" \
  --json "$OUT/eval.json" --markdown "$OUT/eval.md"
for m in facestream/assets/default_model.pt "$RUN/calibrated.pt"; do
  echo "== closure probe: $m"
  $PY scripts/closure_probe.py "$CORPUS" "$m" --limit "$LIMIT" --channels --by-speaker
done | tee "$OUT/closure_probe.txt"
