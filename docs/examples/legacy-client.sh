#!/usr/bin/env bash
# A legacy system's client of LGSP in plain shell: curl, openssl and jq, over
# the JSON gateway. It signs each call as docs/auth.md describes, sends a small
# document inline, and receives by polling. See docs/clients.md.
#
#   legacy-client.sh send <app id of the destination> <file> <subject>
#   legacy-client.sh receive <directory>
#
# Environment: LGSP_URL (the gateway, e.g. http://127.0.0.1:8080),
# LGSP_ACCESS_KEY_ID and LGSP_SECRET_KEY (the app's HMAC credential).
set -euo pipefail

: "${LGSP_URL:?set LGSP_URL to the gateway}" "${LGSP_ACCESS_KEY_ID:?}" "${LGSP_SECRET_KEY:?}"
T=lgsp.transfer.v1.TransferService

# call <package.Service/Method> '<JSON>': one signed Connect JSON call; prints the answer,
# fails (exit 1, the error on stderr) on an error answer.
call() {
  local path="/$1" body=$2 timestamp nonce digest signature answer status
  timestamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  nonce=$(openssl rand -hex 16)
  digest=$(printf '%s' "$body" | openssl dgst -sha256 -hex | sed 's/^.*= //')
  # The string to sign: algorithm, key, time, nonce, method, path, query (none), body digest.
  signature=$(printf '%s\n' HMAC-SHA256 "$LGSP_ACCESS_KEY_ID" "$timestamp" "$nonce" POST "$path" "" "$digest" |
    openssl dgst -sha256 -hmac "$LGSP_SECRET_KEY" -binary | openssl base64 -A)
  answer=$(curl -sS -X POST "$LGSP_URL$path" -w '\n%{http_code}' \
    -H 'content-type: application/json' -H "lgsp-key-id: $LGSP_ACCESS_KEY_ID" \
    -H 'lgsp-algorithm: HMAC-SHA256' -H "lgsp-timestamp: $timestamp" -H "lgsp-nonce: $nonce" \
    -H "lgsp-content-sha256: $digest" -H "lgsp-signature: $signature" --data-binary "$body")
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  if [ "$status" != 200 ]; then
    printf '%s failed (HTTP %s): %s\n' "$1" "$status" "$answer" >&2
    return 1
  fi
  printf '%s\n' "$answer"
}

sha256_b64() { openssl dgst -sha256 -binary < "$1" | openssl base64 -A; }

send() {
  local destination=$1 file=$2 subject=$3 size request
  size=$(wc -c < "$file")
  # Content up to 256 KiB travels inline in the request; larger content is uploaded (docs/transfers.md).
  request=$(jq -n --arg dst "$destination" --arg subject "$subject" --arg size "$size" \
    --arg sha "$(sha256_b64 "$file")" --arg content "$(openssl base64 -A < "$file")" \
    '{recipients: [{appId: $dst}], subject: $subject, contentType: "application/json",
      protocol: "TRANSFER_PROTOCOL_PLAIN_DATA", sizeBytes: $size, sha256: $sha, inlineContent: $content}')
  call $T/CreateTransfer "$request" | jq -r '.transfer | "\(.id) \(.state)"'
}

receive() {
  local dir=$1 id subject accepted
  mkdir -p "$dir"
  call $T/ListPendingDeliveries '{}' | jq -r '.deliveries // [] | .[] | "\(.id) \(.subject)"' |
    while read -r id subject; do
      accepted=$(call $T/AcceptDelivery "{\"deliveryId\": \"$id\", \"preferInline\": true}")
      if ! jq -e '.inlineContent' <<< "$accepted" > /dev/null; then
        echo "$id: too large to come inline; download it from .downloadSpace (docs/transfers.md)" >&2
        continue
      fi
      jq -r '.inlineContent' <<< "$accepted" | openssl base64 -d -A > "$dir/$id"
      # The platform checks the digest the destination reports against what was sent (Art. 9.3).
      call $T/ConfirmDelivery "$(jq -n --arg id "$id" --arg sha "$(sha256_b64 "$dir/$id")" \
        --arg size "$(wc -c < "$dir/$id")" '{deliveryId: $id, sha256: $sha, sizeBytes: $size}')" |
        jq -r --arg subject "$subject" '"\(.delivery.id) \(.delivery.state) \($subject)"'
    done
}

case "${1:-}" in
  send) shift; send "$@" ;;
  receive) shift; receive "$@" ;;
  *) echo "usage: $0 send <app id> <file> <subject> | receive <directory>" >&2; exit 2 ;;
esac
