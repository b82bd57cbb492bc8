#!/usr/bin/env bash
# What .ci/run must do for the runtime tests (issue 6). Run from the repository root, as root, with
# CI=true. It installs PostgreSQL (Debian's `postgresql`), starts a throwaway cluster on
# 127.0.0.1:54329, exports TOLLGATE_TEST_POSTGRES_URL, builds and runs the runtime test targets, and
# stops the cluster. With CI=true the PostgreSQL cases fail (instead of being skipped) when the
# database is missing.
#
# In .ci/run:
#   apt-get update && apt-get install -y postgresql     # or let this script do it
#   bash scripts/test-runtime-ci.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi

eval "$(scripts/start-postgres.sh)"
trap 'scripts/start-postgres.sh stop' EXIT
export TOLLGATE_TEST_POSTGRES_URL

# The replica and crash tests spawn the built `tollgate-runtime` executable, which
# `swift build --build-tests` builds along with the test targets.
swift build --build-tests
swift test --skip-build --filter 'UsageAccountingTests|RuntimeStorageTests|GatewayRuntimeTests'
