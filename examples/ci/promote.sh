#!/usr/bin/env bash
# examples/ci/promote.sh UPDATE_ID [FROM] [TO]: deploy the update to the next ring (default
# ring1 -> ring2) if at least UPCAT_MIN_SUCCESS percent (default 95) of the first ring's install
# reports are successes. Needs: UPCAT_SERVER, UPCAT_APPROVE_TOKEN.
set -euo pipefail

UPDATE_ID="${1:?usage: promote.sh UPDATE_ID [FROM] [TO]}"
UPCAT_TOKEN="$UPCAT_APPROVE_TOKEN" upcat promote "$UPDATE_ID" \
  --from "${2:-ring1}" --to "${3:-ring2}" --min-success "${UPCAT_MIN_SUCCESS:-95}" \
  --server "$UPCAT_SERVER"
