"""The app's workflow worker limits: settings, else the Dapr Configuration's `spec.workflow`.

daprd applies `maxConcurrentWorkflowInvocations` / `maxConcurrentActivityInvocations` to the
work it hands the app's worker (`backend.WithMaxParallelism`; <= 0 or unset: no limit). Here
the same numbers cap the SDK worker's concurrent work items, which has the same effect.
Precedence: an explicit ``FUNCHOST_WORKFLOW_MAX_CONCURRENT_*``, then the Configuration named by
``FUNCHOST_CONFIG``, then the settings' defaults (1,000 each: I/O-bound activities mostly wait,
so 1,000 sleeping activities run at once instead of the SDK's 100 x cpu_count).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from funchost.settings import Settings

# A "no limit" from the Configuration still needs a number for the SDK's semaphore.
UNLIMITED = 1 << 20


class RuntimeLimits(TypedDict):
    """The `WorkflowRuntime` keyword arguments that bound its worker."""

    maximum_concurrent_activity_work_items: int
    maximum_concurrent_orchestration_work_items: int
    maximum_thread_pool_workers: int


@dataclass(frozen=True)
class WorkerLimits:
    """Keyword arguments of `WorkflowRuntime` that bound the worker."""

    activities: int
    workflows: int
    threads: int

    def runtime_kwargs(self) -> RuntimeLimits:
        return {
            "maximum_concurrent_activity_work_items": self.activities,
            "maximum_concurrent_orchestration_work_items": self.workflows,
            "maximum_thread_pool_workers": self.threads,
        }


def workflow_spec(path: str | Path) -> dict[str, Any]:
    """`spec.workflow` of a Dapr Configuration file (empty when it has none)."""
    import yaml

    try:
        docs = list(yaml.safe_load_all(Path(path).read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(
            f"Dapr Configuration {path} (FUNCHOST_CONFIG) cannot be read: {exc}; "
            "fix the file or unset FUNCHOST_CONFIG"
        ) from exc
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Configuration":
            spec = (doc.get("spec") or {}).get("workflow") or {}
            return spec if isinstance(spec, dict) else {}
    return {}


def _from_spec(spec: dict[str, Any], key: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"spec.workflow.{key} is {value!r} in the Dapr Configuration: expected an integer"
        ) from None
    return n if n > 0 else UNLIMITED


def worker_limits(settings: Settings) -> WorkerLimits:
    """The worker's limits for these settings (see the module docstring for the precedence)."""
    explicit = settings.model_fields_set
    spec = workflow_spec(settings.config) if settings.config else {}
    activities = settings.workflow_max_concurrent_activities
    workflows = settings.workflow_max_concurrent_workflows
    if "workflow_max_concurrent_activities" not in explicit:
        activities = _from_spec(spec, "maxConcurrentActivityInvocations") or activities
    if "workflow_max_concurrent_workflows" not in explicit:
        workflows = _from_spec(spec, "maxConcurrentWorkflowInvocations") or workflows
    return WorkerLimits(max(1, activities), max(1, workflows), max(1, settings.workflow_threads))
