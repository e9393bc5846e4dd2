#!/usr/bin/env bash
# The one command for a lent GPU: install the carried wheels the image lacks into a private
# folder (never its site-packages), then run benchmarks/gpu_check.py with the arguments given.
#   bash benchmarks/gpu_check.sh download                        # here: wheels -> .whl/gpu_check/
#   bash benchmarks/gpu_check.sh run --out "$OUT" --commit SHA    # on the device
# benchmarks/gpu_check_wheels.txt lists <module> <requirement>; only missing modules install.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl/gpu_check
LIST=benchmarks/gpu_check_wheels.txt
PY=${PYTHON:-python3}
reqs() { grep -v '^#' "$LIST" | awk 'NF {print $2}'; }
case "${1:-}" in
download)
    PIP=${PIP:-.venv/bin/pip}
    # shellcheck disable=SC2046
    "$PIP" download -q --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 --no-deps -d "$WHEELS" $(reqs)
    ls -l "$WHEELS"
    ;;
run)
    shift
    TARGET=${GPU_CHECK_SITE:-${TMPDIR:-/tmp}/gpu_check_site}
    missing=$(grep -v '^#' "$LIST" | awk 'NF' | while read -r mod req; do
        "$PY" -c "import $mod" 2>/dev/null || echo "$req"; done)
    if [ -n "$missing" ]; then
        echo "gpu_check.sh: installing into $TARGET: $(echo $missing)"
        mkdir -p "$TARGET"
        for req in $missing; do
            name=$(echo "${req%%==*}" | tr '-' '_')
            whl=$(ls "$WHEELS"/* 2>/dev/null | grep -i "/${name}-${req##*==}-" | head -1 || true)
            [ -n "$whl" ] || { echo "gpu_check.sh: no wheel for $req in $WHEELS; run 'bash benchmarks/gpu_check.sh download' here and carry $WHEELS"; exit 2; }
            if "$PY" -m pip --version >/dev/null 2>&1; then
                "$PY" -m pip install -q --no-index --no-deps --target "$TARGET" "$whl"
            else  # no pip on the image: a wheel is a zip of the installed files
                "$PY" -m zipfile -e "$whl" "$TARGET"
            fi
        done
    fi
    export PYTHONPATH="$PWD:$TARGET${PYTHONPATH:+:$PYTHONPATH}"
    exec "$PY" benchmarks/gpu_check.py "$@"
    ;;
*)
    echo "usage: bash benchmarks/gpu_check.sh download | run --out OUT [--commit SHA] [gpu_check.py args]"
    exit 2
    ;;
esac
