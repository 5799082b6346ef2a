#!/usr/bin/env bash
# Regenerates the README's console screenshots (docs/console-overview.png and
# docs/console-finetuned-gpu.png): the browser test serves the three examples as observed
# running and has headless Chromium capture the overview and the finetuned-gpu system page.
set -euo pipefail
cd "$(dirname "$0")/.."
export AGENTLENS_TOOLS_DIR="${AGENTLENS_TOOLS_DIR:-$PWD/.tools}"
AGENTLENS_REQUIRE_TOOLS=1 AGENTLENS_SCREENSHOTS_DIR="$PWD/docs" \
  cargo test --locked -q -p agentlens-operator --test console chromium_and_axe_find_no_errors_on_any_page
ls -l docs/console-*.png
