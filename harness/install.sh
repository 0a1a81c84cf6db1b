#!/usr/bin/env bash
# Installs what harness/ needs to start real servers: the LocalStack and localstripe virtualenvs and PostgreSQL.
# redis-server (like poppler-utils and chromium) comes from scripts/install-system-deps.sh --test.
# Idempotent: a virtualenv is rebuilt only when its requirements file or the base interpreter changed.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${HARNESS_PYTHON:-$(command -v python3.11 || command -v python3)}"
python_version="$("$python_bin" -c 'import sys; print(sys.version.split()[0])')"

# ensure_venv VENV_DIR REQUIREMENTS_FILE [COMMAND...]: (re)build the virtualenv unless its stamp matches;
# COMMAND runs inside the fresh virtualenv's directory before the stamp is written.
ensure_venv() {
    local venv_name="$1" requirements_name="$2"
    local venv="$repo_root/$venv_name" requirements="$repo_root/$requirements_name"
    shift 2
    local stamp="$venv/.harness-requirements.stamp"
    local wanted
    wanted="$(sha256sum "$requirements" | cut -d' ' -f1) python-$python_version"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
        return 0
    fi
    echo "harness: building $venv_name from $requirements_name" >&2
    rm -rf "$venv"
    "$python_bin" -m venv "$venv"
    # pip's output is kept for a failure only: this machine's pip configuration makes it chatty.
    if ! "$venv/bin/pip" install --disable-pip-version-check -r "$requirements" > "$venv/pip-install.log" 2>&1; then
        tail -n 30 "$venv/pip-install.log" >&2
        echo "harness: pip install -r $requirements_name failed; full log: $venv/pip-install.log" >&2
        return 1
    fi
    if [[ $# -gt 0 ]]; then
        (cd "$venv" && "$@")
    fi
    echo "$wanted" > "$stamp"
}

ensure_postgres() {
    if compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null; then
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        echo "harness: PostgreSQL server binaries are missing; install them with: sudo apt-get install postgresql" >&2
        return 1
    fi
    echo "harness: installing PostgreSQL server binaries with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null
}

# LocalStack spends ~3 s indexing every AWS service spec on its first request; build that index once, here.
# harness/s3.py copies it into each server's directory (it is named after the LocalStack and botocore versions).
build_localstack_catalog() {
    mkdir -p harness-root/usr/lib/localstack
    env FILESYSTEM_ROOT="$PWD/harness-root" OVERRIDE_IN_DOCKER=0 bin/python -I -m localstack.aws.spec
}

ensure_venv .venv-localstack requirements/services-localstack.txt build_localstack_catalog &
localstack_job=$!
ensure_venv .venv-localstripe requirements/services-localstripe.txt &
localstripe_job=$!
postgres_status=0
ensure_postgres || postgres_status=$?
wait "$localstack_job"
wait "$localstripe_job"
exit "$postgres_status"
