#!/usr/bin/env bash
# Installs the Debian packages the project needs at run and test time, only when they are missing:
# a Hangul font for invoice PDFs (fonts-nanum), GNU gettext (msgfmt, for `manage.py compilemessages` of locale/ko),
# for the tests poppler-utils (pdftotext), Debian's chromium (the admin's browser tests, driven by Playwright) and
# redis-server (the harness's Celery broker), and for `make run-stack` (--stack) redis-server alone.
set -euo pipefail

need=()
[ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || need+=(fonts-nanum)
command -v msgfmt >/dev/null 2>&1 || need+=(gettext)
if [ "${1:-}" = "--test" ]; then
  command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--stack" ]; then
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${need[*]}. Install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
