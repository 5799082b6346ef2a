#!/usr/bin/env bash
# Builds the auto-instrumentation layout of one provider: exactly the directory an
# agentlens-autoinstrument-<provider> image holds in /autoinstrumentation and its init container
# copies into the pod's /otel-auto-instrumentation-python volume.
#
#   scripts/autoinstrument-layout.sh PROVIDER DIR [PYTHON]
#
# PROVIDER: opentelemetry | openinference | openlit (pins in images/autoinstrument/PROVIDER.txt,
# every package pinned, installed with --no-deps so nothing unpinned slips in). PYTHON (default
# python3) is the CPython whose ABI the compiled wheels are for; it is written to DIR/.python-abi
# (e.g. cp311) for the image label and the inventory's check. Idempotent: a complete DIR of the
# same pins is left alone.
set -euo pipefail

provider=${1:?usage: $0 PROVIDER DIR [PYTHON]}
dir=${2:?usage: $0 PROVIDER DIR [PYTHON]}
python=${3:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)
pins="$here/images/autoinstrument/$provider.txt"
[[ -f $pins ]] || { echo "unknown provider $provider (no $pins)" >&2; exit 2; }

stamp="$dir/.pins.sha256"
# The stamp covers the pins, this script and what it adds, so a change of any rebuilds.
want=$(cat "$pins" "$0" "$here/images/autoinstrument/openlit-pricing.json" | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
"$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --no-deps --only-binary=:all: --target "$dir" -r "$pins"
if [[ $provider == openlit ]]; then
  # OpenLIT fetches a price table from GitHub at start unless given one (the webhook's
  # OPENLIT_PRICING_JSON points here, operator/src/inject/autoinstrument.rs).
  cp "$here/images/autoinstrument/openlit-pricing.json" "$dir/agentlens-openlit-pricing.json"
fi
"$python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")' > "$dir/.python-abi"
echo "$want" > "$stamp"
