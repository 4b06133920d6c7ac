#!/usr/bin/env bash
# Make sure the browser tests have Debian's Chromium (Playwright drives it; its own browser download needs a
# network we do not have) and a font with Chinese and Japanese glyphs for the zh_CN/ja_JP screenshots.
# Installs them with apt-get when missing (as root, or with sudo); does nothing when they are there.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-zenhei)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "The browser tests need: ${need[*]}. Install them with your package manager (Debian: apt-get install ${need[*]})." >&2
  exit 1
fi
echo "Installing ${need[*]} for the browser tests ..." >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
  "${sudo[@]}" apt-get update >/dev/null
  "${sudo[@]}" apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
}
command -v chromium >/dev/null
