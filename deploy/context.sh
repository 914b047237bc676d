#!/bin/sh
# deploy/context/ for `make images`: what the build stage may use from this host and what
# never reaches the final image. The CPU wheel of torch==2.13.0 when pip finds one on this
# host (PIP_FIND_LINKS, a local index), and the CA bundle of $PIP_CERT (a TLS-inspecting
# proxy). Elsewhere the image takes torch from the PyTorch CPU index (TORCH_INDEX).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ctx="$here/context"
rm -rf "$ctx" && mkdir -p "$ctx/wheels"
python=${PYTHON:-python3}
if [ -n "${PIP_FIND_LINKS:-}" ] || "$python" -m pip config list 2>/dev/null | grep -q find-links; then
  "$python" -m pip download -q --no-deps --only-binary=:all: torch==2.13.0 -d "$ctx/wheels" 2>/dev/null || true
fi
case "$(ls "$ctx/wheels" 2>/dev/null)" in
  *+cpu*) echo "images: torch from $(ls "$ctx/wheels")" ;;
  *) rm -f "$ctx/wheels/"*; echo "images: torch from the PyTorch CPU index" ;;
esac
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then cp "$PIP_CERT" "$ctx/ca.pem"; fi
