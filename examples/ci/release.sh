#!/usr/bin/env bash
# examples/ci/release.sh VERSION [BUILD_DIR]: package a client build, publish it over HTTP, check
# that the signed catalog holds exactly what was published, and deploy it to the first ring.
# Needs: UPCAT_SERVER (e.g. https://upcat.example.com:8530), UPCAT_PUBLISH_TOKEN,
# UPCAT_APPROVE_TOKEN, and the root metadata the endpoints trust (UPCAT_TRUSTED_ROOT, default
# trusted/1.root.json). Optional: UPCAT_RING (default ring1), UPCAT_WORK (default upcat-release/).
set -euo pipefail

VERSION="${1:?usage: release.sh VERSION [BUILD_DIR]}"
BUILD_DIR="${2:-build}"
ROOT="${UPCAT_TRUSTED_ROOT:-trusted/1.root.json}"
RING="${UPCAT_RING:-ring1}"
# The pipeline's own files go here, never at the top of the checkout (where a package.json
# would be the project's own).
WORK="${UPCAT_WORK:-upcat-release}"
if [[ ! "$VERSION" =~ ^[0-9]+(\.[0-9]+){0,3}$ ]]; then
  echo "release.sh: VERSION must be like 5.0.1, not \"$VERSION\"" >&2
  exit 2
fi
mkdir -p "$WORK"
PACKAGE="$WORK/contoso-client-$VERSION.zip"

# 1. Package the build: a deterministic zip with its own manifest of files and digests.
upcat package "$BUILD_DIR" --name "Contoso Client" --version "$VERSION" \
  --out "$PACKAGE" --json > "$WORK/package.json"

# 2. The publish manifest: what the update is, how it installs, where it applies.
cat > "$WORK/manifest.json" <<JSON
{
  "title": "Contoso Client $VERSION",
  "product": "Contoso Client",
  "classification": "Updates",
  "version": "$VERSION",
  "handler": { "type": "commandLine", "program": "setup.sh", "arguments": "--quiet" },
  "isInstalled": { "FileExists": { "Path": "/opt/contoso/$VERSION/bin/client" } },
  "isInstallable": { "Platform": { "Name": "linux" } }
}
JSON

# 3. Publish over HTTP: streamed, a progress line every 10% on stderr (the CI log) while the
#    result goes to a file; a dropped connection is retried with the same Idempotency-Key, so a
#    retry never publishes twice.
UPCAT_TOKEN="$UPCAT_PUBLISH_TOKEN" upcat publish "$PACKAGE" \
  --manifest "$WORK/manifest.json" --server "$UPCAT_SERVER" --json > "$WORK/published.json"
# (A command substitution, not `< <(...)`: set -e stops the script if node fails.)
FIELDS=$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(r.updateId, r.revision, r.sha256);
' "$WORK/published.json")
read -r UPDATE_ID REVISION SHA256 <<< "$FIELDS"

# 4. Check, as an endpoint would and from the root the endpoints trust, that the signed catalog
#    lists this revision of the update and these very bytes (signatures, versions, expiries,
#    hashes, and the payload's CMS signature).
upcat verify --server "$UPCAT_SERVER" --root "$ROOT" \
  --update "$UPDATE_ID" --revision "$REVISION" --target "payloads/$SHA256"

# 5. Deploy to the first ring.
UPCAT_TOKEN="$UPCAT_APPROVE_TOKEN" upcat approve "$UPDATE_ID" \
  --group "$RING" --action install --server "$UPCAT_SERVER"
echo "$UPDATE_ID" > "$WORK/update-id.txt"
echo "released update $UPDATE_ID revision $REVISION to $RING"
