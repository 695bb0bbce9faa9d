#!/usr/bin/env bash
# Check the MCP server with clients nobody here wrote:
#   1. the MCP Inspector CLI: tools/list, then a tools/call of every tool (and of the resource);
#   2. the official conformance suite: server-initialize, ping, tools-list, resources-list,
#      dns-rebinding-protection.
# The npm packages (and Node 22, which the Inspector needs) go into a throwaway folder outside
# the repository ($MCP_CLIENTS_DIR, default: $TMPDIR/compression-layer-mcp-clients), installed
# once and reused. The server runs over HTTP on a free loopback port with a temp data dir and is
# stopped on exit. Exit status: 0 when every check passed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$REPO/.venv/bin/python}"
TOOLS="${MCP_CLIENTS_DIR:-${TMPDIR:-/tmp}/compression-layer-mcp-clients}"
INSPECTOR_VERSION="${INSPECTOR_VERSION:-2.12.0}"
CONFORMANCE_VERSION="${CONFORMANCE_VERSION:-0.1.16}"
SCENARIOS=(server-initialize ping tools-list resources-list dns-rebinding-protection)

if [[ ! -x "$TOOLS/node_modules/.bin/conformance" || ! -x "$TOOLS/node_modules/node/bin/node" ]]; then
  echo "== installing node@22, inspector@$INSPECTOR_VERSION, conformance@$CONFORMANCE_VERSION into $TOOLS" >&2
  mkdir -p "$TOOLS"
  [[ -f "$TOOLS/package.json" ]] || echo '{"private": true}' > "$TOOLS/package.json"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
    node@22 "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" \
    "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >&2
fi
export PATH="$TOOLS/node_modules/node/bin:$PATH"
echo "== node $(node --version)" >&2

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT/mcp"
mkdir -p "$WORK/root" "$WORK/home" "$WORK/configs"
cp "$REPO/src/compression_layer/data/samples/sample_service.py" "$WORK/root/"
printf 'Deploys happen on Tuesdays at 10:00 UTC. The release train was started in March 2024 by the platform team; rollbacks need approval from two reviewers.\n' > "$WORK/root/notes.txt"

start_server() {  # start_server <port> <token or empty>; sets SERVER_PID
  echo "== starting the server on http://127.0.0.1:$1/mcp${2:+ (bearer token required)}" >&2
  env -u COMPRESSION_LAYER_TOKEN HF_HUB_OFFLINE=1 ${2:+COMPRESSION_LAYER_TOKEN=$2} \
    COMPRESSION_LAYER_HOME="$WORK/home" COMPRESSION_LAYER_CONFIG_DIR="$WORK/configs" \
    "$PY" -m compression_layer.server serve --transport http --port "$1" --root "$WORK/root" \
    >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 120); do  # bounded: 60 s for imports
    if "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)))"; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "server did not start" >&2; exit 1
}
stop_server() {
  kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
start_server "$PORT" ""

FAILED=0
inspector() {  # inspector <label> <expect: ok|error> <args...>
  local label="$1" expect="$2"; shift 2
  local out rc=0
  out="$(timeout 120 "$TOOLS/node_modules/.bin/mcp-inspector" --cli "$URL" "$@" 2>&1)" || rc=$?
  local is_error=ok
  # An isError tool result is the expected outcome of a refusal; anything else failing
  # (no connection, protocol error: a non-zero exit) counts as an error too.
  if [[ $rc -ne 0 ]] || grep -q '"isError": true' <<<"$out"; then is_error=error; fi
  if [[ "$is_error" == "$expect" ]]; then
    echo "PASS inspector $label ($expect)"
  else
    echo "FAIL inspector $label: expected $expect, rc=$rc"; echo "$out" | head -20; FAILED=1
  fi
  LAST="$out"
}
field() {  # field <name>: a field of the last structuredContent
  printf '%s' "$LAST" | "$PY" -c "import json,sys; t=sys.stdin.read(); d=json.loads(t[t.index('{'):t.rindex('}')+1]); print(d['structuredContent']['$1'])"
}

inspector "tools/list" ok --method tools/list
COUNT="$(printf '%s' "$LAST" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["tools"]))')"
echo "     $COUNT tools listed"
inspector "compress_context(paths)" ok --method tools/call --tool-name compress_context \
  --tool-arg 'paths=["sample_service.py"]'
echo "     tokens $(field tokens_original) -> $(field tokens_compressed) ($(field engine))"
inspector "compress_context(text, rate)" ok --method tools/call --tool-name compress_context \
  --tool-arg "text=$(cat "$WORK/root/notes.txt")" --tool-arg rate=0.5
inspector "validate_compression" ok --method tools/call --tool-name validate_compression \
  --tool-arg "original=$(cat "$WORK/root/notes.txt")" \
  --tool-arg 'compressed=Deploys Tuesdays 10:00 UTC; release train since March 2024.'
inspector "memory_store" ok --method tools/call --tool-name memory_store \
  --tool-arg 'content=The deploy key rotates every 90 days.' --tool-arg 'tags=["ops"]'
MID="$(field id)"
inspector "memory_search" ok --method tools/call --tool-name memory_search \
  --tool-arg 'query=when does the deploy key rotate' --tool-arg max_tokens=200
inspector "memory_get" ok --method tools/call --tool-name memory_get \
  --tool-arg "id=$MID" --tool-arg form=original
inspector "memory_list" ok --method tools/call --tool-name memory_list --tool-arg limit=5
inspector "resources/read" ok --method resources/read --uri "memory://default/$MID"
inspector "memory_delete" ok --method tools/call --tool-name memory_delete --tool-arg "id=$MID"
inspector "adapter_status" ok --method tools/call --tool-name adapter_status
# Refusals arrive as isError results the model can read:
inspector "compress_context(outside root)" error --method tools/call \
  --tool-name compress_context --tool-arg 'paths=["/etc/passwd"]'
inspector "memory_get(unknown id)" error --method tools/call --tool-name memory_get \
  --tool-arg id=mem_unknown
inspector "tools/list after errors" ok --method tools/list

for scenario in "${SCENARIOS[@]}"; do
  rc=0
  out="$(timeout 180 "$TOOLS/node_modules/.bin/conformance" server --url "$URL" --scenario "$scenario" 2>&1)" || rc=$?
  summary="$(printf '%s\n' "$out" | grep -E '^Passed:' || echo 'no summary')"
  if [[ $rc -eq 0 ]] && printf '%s' "$summary" | grep -q ' 0 failed'; then
    echo "PASS conformance $scenario: $summary"
  else
    echo "FAIL conformance $scenario (rc=$rc)"; printf '%s\n' "$out" | tail -20; FAILED=1
  fi
done

# Bearer token: the Inspector gets in with the header and is turned away without it.
stop_server
TOKEN="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
start_server "$PORT" "$TOKEN"
inspector "tools/list with bearer token" ok --method tools/list \
  --header "Authorization: Bearer $TOKEN"
inspector "tools/list without token" error --method tools/list
stop_server

if [[ $FAILED -ne 0 ]]; then
  echo "== server log:" >&2; tail -40 "$WORK/server.log" >&2
  exit 1
fi
echo "all MCP client checks passed"
