#!/usr/bin/env bash
# `npm test`: installs whatever is missing, then runs every check and test suite.
# Integration and end-to-end suites start their own MinIO, MLflow, BentoML and gateway
# processes on free ports and stop them afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

step() { printf '\n=== %s\n' "$*"; }

step "typecheck, lint, mypy"
npm run --silent check

step "TypeScript tests (unit, component, integration, end-to-end)"
npx vitest run

step "Python tests (unit, integration)"
.stack/python -m pytest bento/tests
