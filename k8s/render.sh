#!/usr/bin/env bash
# Re-render the generated manifests from functions/ (the decorators are the source of truth).
#   k8s/render.sh            write k8s/app, k8s/app-kafka, k8s/app-units
#   k8s/render.sh --check    exit 1 if a committed file differs from what the code renders (CI)
# `python -m funchost.manifests` is the same command as `funchost manifests`.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(functions --app-id task-agent-system --image task-agent-system:latest
        --sidecar-volume notifications:/var/run/funchost/notifications)
python -m funchost.manifests "${common[@]}" --out k8s/app --pubsub-type redis "$@"
python -m funchost.manifests "${common[@]}" --out k8s/app-kafka --pubsub-type kafka "$@"
python -m funchost.manifests "${common[@]}" --out k8s/app-units --pubsub-type redis \
  --units api,workers,actors,workflows "$@"
