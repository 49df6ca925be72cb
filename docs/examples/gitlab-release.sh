#!/bin/sh
# A GitLab release for each Shipyard release, with the changelog section as its notes and the
# artifacts uploaded as its assets. In shipyard.yaml:
#
#   release:
#     hooks:
#       after_release: sh docs/examples/gitlab-release.sh
#
# Needs the GitLab CLI (`glab`) and a token in GITLAB_TOKEN (in CI: a project access token
# with the api scope; GITLAB_HOST for a self-managed instance). Push the tag first:
# `shipyard release --push`.
set -eu
# SHIPYARD_ARTIFACTS holds one path per line: left unquoted, each is one argument.
# shellcheck disable=SC2086
glab release create "$SHIPYARD_TAG" $SHIPYARD_ARTIFACTS --name "$SHIPYARD_TAG" \
  --notes-file "$SHIPYARD_CHANGELOG_FILE"
