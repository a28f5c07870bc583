#!/usr/bin/env bash
# The whole test suite: Rust unit/integration tests, then end-to-end tests with real
# Kafka clients (confluent-kafka, kafka-python, kcat) against target/release/sluice.
# The conformance scenarios (tests/conformance/) run each interaction against a real Apache Kafka broker
# (tests/reference/kafka_ref.py, from Maven Central) as well, and compare.
# Usage (from anywhere): bash tests/run.sh [extra pytest args]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each step's line carries the seconds since the start, so a CI log shows where the time goes.
# The same lines are repeated at the end (the tail of a CI log is what gets read).
STEPS=()
log() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; STEPS+=("[${SECONDS}s] $*"); }
summary() { printf '\n==> steps (seconds since start):\n'; printf '    %s\n' "${STEPS[@]}" "[${SECONDS}s] end"; }
trap summary EXIT

# --- test clients ---------------------------------------------------------------
if ! command -v kcat >/dev/null 2>&1; then
    log "installing kcat (apt-get)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kcat
fi

if ! command -v javac >/dev/null 2>&1; then
    log "installing a JDK (apt-get) for the Java client tests"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jdk-headless
fi

if ! command -v mvn >/dev/null 2>&1; then
    log "installing Maven (apt-get) for the Java tests and the reference Kafka broker"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq maven
fi

# --- Apache Kafka from Maven Central: the reference broker, its CLI tools, the Java client programs --
log "building tests/java (Maven: Apache Kafka reference release, Java client programs)"
bash tests/java/build.sh

PYTHON="${PYTHON:-python3}"
log "installing Python test clients (tests/requirements.txt)"
# Debian's system Python is "externally managed" (PEP 668); this is a throwaway test machine.
PIP_BREAK_SYSTEM_PACKAGES=1 "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    -r tests/requirements.txt

# --- deployment checks (tests/test_deploy_static.py) ------------------------------
# checkov pins many dependencies of its own: a separate virtualenv keeps them away from the
# test clients'.
if [ ! -x tests/.venv-checkov/bin/checkov ]; then
    log "installing checkov (tests/.venv-checkov)"
    "$PYTHON" -m venv tests/.venv-checkov
    tests/.venv-checkov/bin/pip install -q --disable-pip-version-check -r tests/requirements-checkov.txt
fi
export CHECKOV="$PWD/tests/.venv-checkov/bin/checkov"
# `tofu fmt -check` for terraform/: OpenTofu built from the Go module proxy (1.6.3 is the last
# release whose go.mod has no replace directive, which `go install pkg@version` refuses).
# A machine that already has tofu or terraform uses it.
if [ -z "${TOFU:-}" ] && ! command -v tofu >/dev/null 2>&1 && ! command -v terraform >/dev/null 2>&1; then
    TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/sluice-tools"
    if [ ! -x "$TOOLS/bin/tofu" ]; then
        if ! command -v go >/dev/null 2>&1; then
            log "installing Go (apt-get) to build OpenTofu"
            SUDO=""
            if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
            $SUDO apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go
        fi
        log "installing OpenTofu 1.6.3 (go install from the Go module proxy)"
        GOBIN="$TOOLS/bin" GOFLAGS=-p=2 go install github.com/opentofu/opentofu/cmd/tofu@v1.6.3
    fi
    export TOFU="$TOOLS/bin/tofu"
fi

# --- test identity provider (npm: oauth2-mock-server, for tests/test_oauth.py) ---
if ! command -v npm >/dev/null 2>&1; then
    log "installing nodejs and npm (apt-get)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi
log "installing the test identity provider (npm install in tests/idp)"
(cd tests/idp && npm install --no-audit --no-fund --silent)

# --- build and Rust tests -------------------------------------------------------
log "cargo build --release --bins"
cargo build --release -j2 --bins

log "cargo test --release --workspace"
cargo test --release -j2 --workspace

# --- end-to-end tests -----------------------------------------------------------
export SLUICE_BIN="${SLUICE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/sluice}"
log "pytest tests/ (SLUICE_BIN=$SLUICE_BIN)"
status=0
"$PYTHON" -m pytest -q --durations=15 -p no:cacheprovider tests/ "$@" || status=$?
log "done (pytest exit $status)"
exit "$status"
