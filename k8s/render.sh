#!/usr/bin/env bash
# Re-render the generated manifests from functions/ (the decorators are the source of truth).
#   k8s/render.sh            write k8s/app, k8s/app-kafka, k8s/app-units, k8s/notification-service
#   k8s/render.sh --check    exit 1 if a committed file differs from what the code renders (CI)
# `python3 -m funchost.manifests` is the same command as `funchost manifests` (PYTHON=... picks
# another interpreter). KEDA's triggers and credentials follow the pub/sub component given with
# --components (Redis or Kafka). The README's deploy command is the first line below.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(functions --app-id task-agent-system
        --sidecar-volume notifications:/var/run/funchost/notifications)
"${PYTHON:-python3}" -m funchost.manifests "${common[@]}" --out k8s/app --components k8s/components/redis "$@"
"${PYTHON:-python3}" -m funchost.manifests "${common[@]}" --out k8s/app-kafka --components k8s/components/kafka "$@"
"${PYTHON:-python3}" -m funchost.manifests "${common[@]}" --out k8s/app-units --components k8s/components/redis \
  --units api,workers,actors,workflows "$@"
# The agent's second app: its own Deployment (same image, serving /app/notification-service).
# Its image tag is the one the agent's Deployment gets (never `:latest`: manifests lint).
tag=$("${PYTHON:-python3}" -c 'from funchost.manifests.render import DEFAULT_TAG; print(DEFAULT_TAG)')
"${PYTHON:-python3}" -m funchost.manifests notification-service --app-id notification-service \
  --image "task-agent-system:$tag" --out k8s/notification-service \
  --components k8s/components/redis "$@"
