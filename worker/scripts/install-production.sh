#!/bin/sh
# Usage: worker/scripts/install-production.sh <repo> <dest>
#
# Writes the agent worker's production tree to <dest>, exactly as the image ships it under /app:
#
#   <dest>/package.json, package-lock.json   the repository's root manifest and lockfile, verbatim
#   <dest>/contract/{package.json,dist/}     @agent-fleet/contract, built
#   <dest>/worker/{package.json,dist/}       @agent-fleet/worker, built (bin: worker/dist/bin.js)
#   <dest>/node_modules/                     the worker's production dependencies, nothing else
#
# worker/Dockerfile runs this script and test/packaging/agent-image.test.ts runs the very same file,
# so the command below is written in one place. <repo> must hold built contract/dist and worker/dist
# (`npx tsc -b worker`).
#
# Why `npm ci --omit=dev --workspace @agent-fleet/worker --include-workspace-root=false` in a copy
# of the workspace, rather than packing the two tarballs and `npm install`ing them:
# - `npm ci` installs exactly what the committed package-lock.json records (versions, tarball URLs,
#   integrity hashes) and fails when package.json and the lockfile disagree; it never resolves a
#   range. An `npm install` of tarballs into a fresh directory has no lockfile to follow: it resolves
#   ^ranges against the registry of the day, so two builds a week apart can ship different code.
# - `--workspace @agent-fleet/worker --include-workspace-root=false` reifies only the worker's
#   dependency closure: not the root's devDependencies (typescript, jest, cdk8s-cli, ...), nor its
#   peerDependencies (cdk8s, constructs), nor the CLI's dependencies. `--omit=dev` drops any dev
#   dependency a workspace might declare. The workspace links (node_modules/@agent-fleet/worker ->
#   ../../worker, .../contract -> ../../contract) need the two folders next to the lockfile, which is
#   why the tree keeps the repository's layout.
# - The cli/ workspace folder is left out: npm ci does not need the folder of a workspace it is not
#   asked to install, and the image has no use for it.
# - `--ignore-scripts`: no package of the worker's closure has an install script (the test checks
#   the lockfile's `hasInstallScript` flags), so none may run in the build.
set -eu

usage='usage: install-production.sh <repo> <dest>'
repo=$(cd "${1:?$usage}" && pwd)
dest=${2:?$usage}

for ws in contract worker; do
  if [ ! -f "$repo/$ws/dist/index.js" ]; then
    echo "install-production: $repo/$ws/dist is not built; run: npx tsc -b worker" >&2
    exit 1
  fi
done

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
cp "$repo/package.json" "$repo/package-lock.json" "$dest/"
for ws in contract worker; do
  rm -rf "${dest:?}/$ws"
  mkdir -p "$dest/$ws"
  cp "$repo/$ws/package.json" "$dest/$ws/package.json"
  cp -R "$repo/$ws/dist" "$dest/$ws/dist"
  # Build-only files never ship.
  find "$dest/$ws/dist" -name '*.tsbuildinfo' -exec rm -f {} +
done

cd "$dest"
npm ci --omit=dev --workspace @agent-fleet/worker --include-workspace-root=false \
  --ignore-scripts --no-audit --no-fund --update-notifier=false
