#!/bin/sh
# The qraptor image's entrypoint: `qraptor "$@"` as the unprivileged user qraptor (uid
# 10001). The container starts as root only so that Docker can place the secret files
# (owned by uid 10001, mode 0400) at creation: dockerd 20.10 looks a non-root image user up
# in the *host's* passwd when it copies secrets in, and fails.
set -eu
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=qraptor --regid=qraptor --init-groups -- qraptor "$@"
fi
exec qraptor "$@"
