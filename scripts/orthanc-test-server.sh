#!/usr/bin/env bash
# A throw-away Orthanc PACS (DICOMweb plugin + DICOM port) for ceuskit's tests, reached on 127.0.0.1.
#   scripts/orthanc-test-server.sh start   -> prints "HTTP_PORT DICOM_PORT DIR"
#   scripts/orthanc-test-server.sh stop DIR -> stops that server and deletes DIR
# Environment for `start`:
#   ORTHANC_TEST_USER, ORTHANC_TEST_PASSWORD  HTTP basic authentication on, with this one user (else off)
#   ORTHANC_TEST_AET                          Orthanc's AE title (default ORTHANC_TEST; called AET checked)
#   ORTHANC_TEST_LUA                          a Lua script file to load (e.g. an IncomingHttpRequestFilter)
# Storage, index and logs live in DIR (a new temporary folder). Exit 3 when Orthanc or its DICOMweb plugin is
# missing (`make install` installs the Debian packages orthanc and orthanc-dicomweb).
set -euo pipefail

find_plugin() {
  local f
  for f in /usr/share/orthanc/plugins/libOrthancDicomWeb.so /usr/lib/orthanc/libOrthancDicomWeb.so*; do
    [[ -e $f ]] && { echo "$f"; return 0; }
  done
  if command -v dpkg >/dev/null 2>&1; then
    f=$(dpkg -L orthanc-dicomweb 2>/dev/null | grep -E 'libOrthancDicomWeb\.so' | head -n 1 || true)
    [[ -n $f && -e $f ]] && { echo "$f"; return 0; }
  fi
  return 1
}

find_orthanc() {
  local f
  for f in /usr/sbin/Orthanc /usr/bin/Orthanc; do [[ -x $f ]] && { echo "$f"; return 0; }; done
  command -v Orthanc 2>/dev/null && return 0
  return 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

json_string() {  # a JSON string literal of $1
  python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

write_config() {  # DIR HTTP_PORT DICOM_PORT PLUGIN
  local dir=$1 http=$2 dicom=$3 plugin=$4 auth=false users="{}" lua="[]"
  if [[ -n ${ORTHANC_TEST_USER:-} ]]; then
    auth=true
    users="{ $(json_string "$ORTHANC_TEST_USER") : $(json_string "${ORTHANC_TEST_PASSWORD:?ORTHANC_TEST_PASSWORD is needed with ORTHANC_TEST_USER}") }"
  fi
  [[ -n ${ORTHANC_TEST_LUA:-} ]] && lua="[ $(json_string "$ORTHANC_TEST_LUA") ]"
  umask 077
  cat >"$dir/orthanc.json" <<EOF
{
  "Name": "ceuskit-test",
  "StorageDirectory": $(json_string "$dir/storage"),
  "IndexDirectory": $(json_string "$dir/storage"),
  "Plugins": [ $(json_string "$plugin") ],
  "LuaScripts": $lua,
  "HttpServerEnabled": true,
  "HttpPort": $http,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": $auth,
  "RegisteredUsers": $users,
  "OrthancExplorerEnabled": false,
  "WebDavEnabled": false,
  "HttpDescribeErrors": true,
  "DicomServerEnabled": true,
  "DicomAet": $(json_string "${ORTHANC_TEST_AET:-ORTHANC_TEST}"),
  "DicomCheckCalledAet": true,
  "DicomPort": $dicom,
  "DicomAlwaysAllowEcho": true,
  "DicomAlwaysAllowStore": true,
  "DicomAlwaysAllowFind": true,
  "DicomAlwaysAllowGet": true,
  "DicomAlwaysAllowMove": true,
  "DicomModalities": {},
  "UnknownSopClassAccepted": false,
  "StableAge": 1,
  "ConcurrentJobs": 2,
  "SaveJobs": false,
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/", "EnableWado": false, "Ssl": false,
                "StudiesMetadata": "Full", "SeriesMetadata": "Full" }
}
EOF
}

cmd=${1:-}
case "$cmd" in
  start)
    orthanc=$(find_orthanc) || { echo "ceuskit: Orthanc not found; run \`make install\` (it apt-installs orthanc and orthanc-dicomweb)" >&2; exit 3; }
    plugin=$(find_plugin) || { echo "ceuskit: Orthanc's DICOMweb plugin not found; run \`make install\` (it apt-installs orthanc-dicomweb)" >&2; exit 3; }
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ceuskit-orthanc.XXXXXX")
    mkdir -p "$dir/storage" "$dir/logs"
    for attempt in 1 2 3 4 5; do
      http=$(free_port); dicom=$(free_port)
      [[ $http != "$dicom" ]] || continue
      write_config "$dir" "$http" "$dicom" "$plugin"
      setsid "$orthanc" --logdir="$dir/logs" "$dir/orthanc.json" </dev/null >"$dir/stdout.log" 2>&1 &
      echo $! >"$dir/pid"
      for _ in $(seq 1 150); do  # up to 15 s
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then break; fi
        code=$(python3 - "$http" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/dicom-web/studies?limit=1", timeout=1)
    print(200)
except urllib.error.HTTPError as exc:
    print(exc.code)
except Exception:
    print(0)
PY
)
        if [[ $code != 0 ]]; then  # any HTTP answer (200, or 401/403 with authentication on)
          echo "$http $dicom $dir"
          exit 0
        fi
        sleep 0.1
      done
      kill -9 "$(cat "$dir/pid")" 2>/dev/null || true
      wait "$(cat "$dir/pid")" 2>/dev/null || true
    done
    echo "ceuskit: Orthanc did not start; see $dir/logs and $dir/stdout.log" >&2
    tail -n 20 "$dir/stdout.log" >&2 || true
    exit 1
    ;;
  stop)
    dir=${2:?usage: orthanc-test-server.sh stop DIR}
    [[ -f $dir/pid ]] || exit 0
    pid=$(cat "$dir/pid")
    # A throw-away server: no need for Orthanc's graceful stop (it takes ~5 s); its storage is deleted anyway.
    if kill -9 "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do  # gone, or a zombie waiting for its parent to reap it
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        [[ -z $state || $state == Z ]] && break
        sleep 0.02
      done
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
