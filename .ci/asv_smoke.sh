#!/usr/bin/env bash
# CI smoke check of the performance tooling, against the current environment
# (convolve and the peers installed there; nothing is built or downloaded).
# Real timings in CI are noise: this checks that the benchmarks work, not how
# fast they are. About a minute; exits non-zero on any failure.
#   1. `python -m convolve bench` runs two cases that exist and prints them;
#   2. `asv check`: every suite imports and its parameters are sound;
#   3. one `--quick` pass (each benchmark called once) over a small subset:
#      our conv2d and convolve2d beside torch, SciPy and OpenCV, plus a pooling
#      case (skipped while convolve lacks it). Results are not saved.
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLBACKEND=Agg

echo "-- python -m convolve bench (two cases, one round)"
out="$(python -m convolve bench --case conv2d/lenet1/fwd/f32,signal/convolve2d/1024_k5/f32 \
       --rounds 1 --no-progress)"
echo "$out"
if ! grep -q "conv2d/lenet1/fwd/f32 " <<<"$out" || grep -Eq "MISSING|ERROR" <<<"$out"; then
    echo "asv_smoke: python -m convolve bench did not time convolve" >&2
    exit 1
fi

cd asv_benchmarks
asv machine --yes >/dev/null          # machine description, non-interactive
echo "-- asv check"
asv check --python=same
echo "-- asv run --quick (subset)"
asv run --python=same --quick --show-stderr \
    --bench 'time_conv_forward.*lenet1' \
    --bench 'peakmem_conv_forward.*lenet2' \
    --bench 'time_signal.*convolve2d/1024_k5' \
    --bench 'time_pooling.*k3s2p1/fwd'
echo "asv smoke check passed"
