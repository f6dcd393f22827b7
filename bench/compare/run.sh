#!/usr/bin/env bash
# The side-by-side comparison of docs/performance.md: builds the `lstm` tool (Release) and the
# oneDNN programs, then times the library, oneDNN's primitives and PyTorch on the suite,
# alternating them (bench/compare/run.py), and prints a markdown table.
#
#   bench/compare/run.sh [--commit REV] [run.py options: --cells lstm,gru --modes infer,train
#                         --rounds 3 --min-time 0.5 --only NAME,NAME --threads 2 --no-torch ...]
#
# --commit REV measures the library exactly as committed at REV (exported with `git archive`),
# not the working tree. Everything is built under $BUILD (default: build-compare at the root);
# the report is also written to $BUILD/results.md and every measurement to $BUILD/results.json.
# Needs: cmake, g++, libdnnl-dev, libnlohmann-json3-dev, libcli11-dev, and Debian's
# python3-torch at /usr/bin/python3 (or --python PATH) with libopenblas0-pthread (without it
# torch's products run in the reference BLAS). A full run takes about 10 minutes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-compare}
JOBS=${JOBS:-2}

REV=""
if [[ ${1:-} == --commit ]]; then
  REV=${2:?--commit needs a revision}
  shift 2
fi

mkdir -p "$BUILD"
if [[ -n $REV ]]; then
  SRC=$BUILD/src
  rm -rf "$SRC"
  mkdir -p "$SRC"
  git -C "$ROOT" archive "$REV" | tar -x -C "$SRC"
  COMMIT="$(git -C "$ROOT" rev-parse --short "$REV") ($(git -C "$ROOT" log -1 --format=%cs "$REV"), as committed)"
else
  SRC=$ROOT
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n $(git -C "$ROOT" status --porcelain -- src include CMakeLists.txt 2>/dev/null) ]]; then
    COMMIT="$COMMIT + uncommitted changes in src/"
  fi
fi

# Builds quietly; the log is printed only when a step fails.
quietly() {
  if ! "$@" >"$BUILD/build.log" 2>&1; then
    cat "$BUILD/build.log" >&2
    echo "run.sh: failed: $*" >&2
    exit 1
  fi
}
echo "building the library and the lstm tool from $SRC ($COMMIT) ..." >&2
# one build directory per source (CMake refuses to reuse one for another source directory)
LSTM_BUILD=$BUILD/lstm${REV:+-commit}
quietly cmake -S "$SRC" -B "$LSTM_BUILD" -DCMAKE_BUILD_TYPE=Release -DLSTM_BUILD_TESTS=OFF
quietly make -C "$LSTM_BUILD" -j"$JOBS" lstm_tool
echo "building the oneDNN programs ..." >&2
quietly cmake -S "$ROOT/bench/compare" -B "$BUILD/compare" -DCMAKE_BUILD_TYPE=Release
quietly make -C "$BUILD/compare" -j"$JOBS"

/usr/bin/python3 "$ROOT/bench/compare/run.py" \
  --lstm "$LSTM_BUILD/lstm" --onednn "$BUILD/compare/onednn_rnn" --roof "$BUILD/compare/gemm_roof" \
  --suite "$ROOT/data/bench_suite.txt" --commit "$COMMIT" --json-out "$BUILD/results.json" "$@" |
  tee "$BUILD/results.md"
