#!/usr/bin/env bash
# Installs the Debian packages ceuskit's tests use, where missing: a PostgreSQL server, Debian's chromium,
# Orthanc with its DICOMweb plugin (the test PACS) and dicom3tools (dciodvfy, an independent DICOM validator).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[[ -x /usr/sbin/Orthanc ]] || command -v Orthanc >/dev/null 2>&1 || need+=(orthanc)
[[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]] || compgen -G '/usr/lib/orthanc/libOrthancDicomWeb.so*' >/dev/null \
  || need+=(orthanc-dicomweb)
command -v dciodvfy >/dev/null 2>&1 || need+=(dicom3tools)
((${#need[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
  echo "ceuskit: please install these Debian packages: ${need[*]}" >&2
  exit 1
fi
SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The tests start their own throw-away Orthanc (scripts/orthanc-test-server.sh); the system service that the
# package enables would listen on DICOM port 4242 for nothing, so it is switched off again.
if [[ " ${need[*]} " == *" orthanc "* ]] && command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now orthanc >/dev/null 2>&1 || true
fi
