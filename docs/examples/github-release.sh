#!/bin/sh
# A GitHub release for each Shipyard release, with the changelog section as its notes and the
# artifacts attached. In shipyard.yaml:
#
#   release:
#     hooks:
#       after_release: sh docs/examples/github-release.sh
#
# Needs the GitHub CLI (`gh`) and a token in GH_TOKEN (in CI: GH_TOKEN: ${{ github.token }},
# with `contents: write`). The tag must be on GitHub first: `shipyard release --push`.
set -eu
prerelease=""
if [ "$SHIPYARD_PRERELEASE" = true ]; then prerelease="--prerelease"; fi
# SHIPYARD_ARTIFACTS holds one path per line: left unquoted, each is one argument.
# shellcheck disable=SC2086
gh release create "$SHIPYARD_TAG" --verify-tag --title "$SHIPYARD_TAG" \
  --notes-file "$SHIPYARD_CHANGELOG_FILE" $prerelease $SHIPYARD_ARTIFACTS
