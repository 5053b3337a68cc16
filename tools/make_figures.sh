#!/usr/bin/env bash
# Regenerates docs/figures/*.png (docs/figures.md): simulates EfficientViT-B1 @224 (trio-w8a8, synthetic
# weights) on trio-vit and on systolic-32x32-os, then draws each report with tools/plot_report.py; the gap
# waterfall of trio-vit on B1 @224 and on B3 @224 (the best of B0-B3 at 224); then the seed papers'
# comparison (tools/seed_comparison.py: its tables in docs/figures.md and seed-comparison.png).
#   bash tools/make_figures.sh            uses build/release/vitsim (bash setup.sh builds it)
#   VITSIM=path/to/vitsim bash tools/make_figures.sh
# Builds nothing. Needs Debian's python3-matplotlib. Takes about 4 minutes of CPU (docs/figures.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
vitsim="${VITSIM:-$root/build/release/vitsim}"
out="$root/docs/figures"

if [ ! -x "$vitsim" ]; then
  echo "make_figures: no vitsim at $vitsim: build it (bash setup.sh) or set VITSIM" >&2
  exit 2
fi
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  echo "make_figures: needs Debian's python3-matplotlib (apt-get install -y python3-matplotlib)" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Cycles do not depend on the calibration images (docs/simulation.md), so one image is enough; the
# quantized graph is made once and simulated on both presets.
echo "make_figures: efficientvit-b1 @224 on trio-vit" >&2
"$vitsim" run --model efficientvit-b1 --res 224 --recipe trio-w8a8 --calib-count 1 --accel trio-vit \
  --save-qgraph "$tmp/b1.vqg" --report "$tmp/b1-224-trio-vit.json" >/dev/null
echo "make_figures: efficientvit-b1 @224 on systolic-32x32-os" >&2
"$vitsim" simulate --qgraph "$tmp/b1.vqg" --accel systolic-32x32-os \
  --report "$tmp/b1-224-systolic-32x32-os.json" >/dev/null

for preset in trio-vit systolic-32x32-os; do
  /usr/bin/python3 "$root/tools/plot_report.py" "$tmp/b1-224-$preset.json" --out "$out" --prefix "b1-224-$preset"
done

echo "make_figures: where trio-vit's cycles go (gap waterfall)" >&2
/usr/bin/python3 "$root/tools/gap_waterfall.py" --vitsim "$vitsim" --qgraph "$tmp/b1.vqg" \
  --config "$root/configs/accel/trio-vit.json" --out "$out/gap-waterfall-b1-224-trio-vit.png"
echo "make_figures: where trio-vit's cycles go on efficientvit-b3 @224 (gap waterfall)" >&2
"$vitsim" run --model efficientvit-b3 --res 224 --recipe trio-w8a8 --calib-count 1 --accel trio-vit \
  --save-qgraph "$tmp/b3.vqg" >/dev/null
/usr/bin/python3 "$root/tools/gap_waterfall.py" --vitsim "$vitsim" --qgraph "$tmp/b3.vqg" \
  --config "$root/configs/accel/trio-vit.json" --out "$out/gap-waterfall-b3-224-trio-vit.png"

echo "make_figures: the seed papers' comparison (tools/seed_comparison.py)" >&2
/usr/bin/python3 "$root/tools/seed_comparison.py" --vitsim "$vitsim" --doc "$root/docs/figures.md" \
  --png "$out/seed-comparison.png"
