#!/usr/bin/env bash
# Keeps tools/seed_comparison.py (docs/figures.md, "The seed papers' comparison") honest on two small rows:
# DeiT-Tiny @64 on p2-vit (the ViT fixture) and EfficientViT-B0 @64 on trio-vit (the EfficientViT fixture),
# each fixture on 32 calibration and 100 test images, no figure. Checks: each row's DSPs, FPS, FPS/DSP and
# GOPS equal the summary that `vitsim run` prints for the same row (the C++ summary, not report.json), its
# fixture top-1 and FP32 top-1 the summary of `vitsim quantize` on its own fixture; the text outside the
# markers is kept byte for byte; a second run writes the same bytes; bad input (an unknown accelerator, a
# file without the markers) exits 2 and leaves the file untouched.
#   bash tests/seed_comparison_test.sh VITSIM_BINARY SOURCE_DIR
set -uo pipefail
vitsim="$1"
root="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "seed_comparison_test: $*" >&2
  exit 1
}
doc="$work/doc.md"
begin='<!-- seed-comparison:begin (tools/seed_comparison.py writes this part) -->'
printf 'before\n%s\nold table\n<!-- seed-comparison:end -->\nafter\n' "$begin" >"$doc"
script=(/usr/bin/python3 "$root/tools/seed_comparison.py" --vitsim "$vitsim" --no-figure --res 64
  --calib-count 32 --eval-count 100)
rows=(--row p2-vit,deit-tiny,p2vit-w8a8 --row trio-vit,efficientvit-b0,trio-w8a8)

"${script[@]}" --doc "$doc" "${rows[@]}" 2>"$work/err" || fail "exit $?: $(cat "$work/err")"
[ "$(head -2 "$doc")" = "before
$begin" ] || fail "the text before the table changed"
[ "$(tail -2 "$doc")" = "<!-- seed-comparison:end -->
after" ] || fail "the text after the table changed"
grep -q 'old table' "$doc" && fail "the old table is still there"

# row ACCEL MODEL RECIPE FIXTURE: the table's row against the CLI's own summaries.
check_row() {
  local line summary q dsps fps fps_dsp gops int fp32
  line="$(grep "^| $1 | $2 | $3 |" "$doc")" || fail "no row for $1 $2 $3"
  summary="$("$vitsim" run --model "$2" --res 64 --recipe "$3" --calib-count 1 --accel "$1" --timing fast 2>"$work/log")"
  dsps="$(sed -n 's/.* \([0-9,]*\) DSPs: DSP efficiency.*/\1/p' <<<"$summary")"
  fps="$(sed -n 's/.*MHz, \([0-9.]*\) FPS).*/\1/p' <<<"$summary")"
  fps_dsp="$(sed -n 's/.* \([0-9.]*\) FPS\/DSP.*/\1/p' <<<"$summary")"
  gops="$(sed -n 's/.*throughput *\([0-9.]*\) GOPS.*/\1/p' <<<"$summary")"
  [[ "$line" == *"| $dsps | $fps | $fps_dsp | $gops |"* ]] ||
    fail "$1 $2: table '$line', vitsim run: $dsps DSPs, $fps FPS, $fps_dsp FPS/DSP, $gops GOPS"
  q="$("$vitsim" quantize --onnx "$root/tests/data/$4/model.onnx" --recipe "$3" --calib fashion-mnist \
    --calib-count 32 --eval fashion-mnist --eval-count 100 --out "$work/q.vqg")"
  fp32="$(sed -n 's/.*accuracy FP32 \([0-9.]*\)% \/ int.*/\1/p' <<<"$q")"
  int="$(sed -n 's/.*\/ int \([0-9.]*\)%.*/\1/p' <<<"$q")"
  awk -v line="$line" -v q8="$int" -v q32="$fp32" 'BEGIN {
    n = split(line, f, "|"); t = f[n - 2]; u = f[n - 1]; sub(/%.*/, "", t); sub(/%.*/, "", u)
    exit !((t - q8) ^ 2 < 0.0025 && (u - q32) ^ 2 < 0.0025) }' ||
    fail "$1 $2: table '$line', vitsim quantize on $4: int $int%, FP32 $fp32%"
}
check_row p2-vit deit-tiny p2vit-w8a8 fashion_vit
check_row trio-vit efficientvit-b0 trio-w8a8 fashion_evit

cp "$doc" "$work/first.md"
"${script[@]}" --doc "$doc" "${rows[@]}" 2>"$work/err" || fail "second run: exit $?: $(cat "$work/err")"
cmp -s "$doc" "$work/first.md" || fail "a second run wrote different bytes"

"${script[@]}" --doc "$doc" --row no-such-accel,deit-tiny,p2vit-w8a8 2>"$work/err"
rc=$?
[ "$rc" = 2 ] || fail "an unknown accelerator exited $rc, not 2"
grep -q 'no-such-accel' "$work/err" || fail "an unknown accelerator's message: $(cat "$work/err")"
cmp -s "$doc" "$work/first.md" || fail "bad input changed the file"
echo plain >"$work/plain.md"
"${script[@]}" --doc "$work/plain.md" "${rows[@]}" 2>"$work/err"
rc=$?
[ "$rc" = 2 ] && grep -q 'seed-comparison:begin' "$work/err" || fail "a file without markers: exit $rc, $(cat "$work/err")"
[ "$(cat "$work/plain.md")" = plain ] || fail "a file without markers was changed"
exit 0
