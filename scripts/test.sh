#!/usr/bin/env bash
# `npm test`: installs whatever is missing, then runs every check and test suite.
# `npm run test:<tier>` (scripts/test.sh <tier>) runs one tier of tests, without the checks:
#   unit         no processes, no network: TypeScript *.unit.test.ts, pytest -m unit (seconds)
#   component    gateway and CLI against a real MinIO and fake inference, static checks (minutes)
#   integration  the whole stack (MinIO, MLflow, BentoML, gateway), and pytest -m integration
# Tiers are defined in vitest.config.ts and bento/tests/conftest.py.
# Integration and end-to-end suites start their own MinIO, MLflow, BentoML and gateway
# processes on free ports and stop them afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tier="${1:-all}"
case "$tier" in
  all | unit | component | integration) ;;
  *) printf 'usage: %s [unit|component|integration]\n' "$0" >&2; exit 2 ;;
esac

bash scripts/setup.sh

step() { printf '\n=== %s\n' "$*"; }

if [[ "$tier" == all ]]; then
  step "typecheck, lint, mypy"
  npm run --silent check

  step "TypeScript tests (unit, component, integration, end-to-end)"
  npx vitest run

  step "Python tests (unit, integration)"
  .stack/python -m pytest bento/tests
  exit
fi

step "TypeScript tests ($tier)"
npx vitest run --project "$tier"

if [[ "$tier" != component ]]; then
  step "Python tests ($tier)"
  .stack/python -m pytest bento/tests -m "$tier"
fi
