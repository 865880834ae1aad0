"""@config_change functions: two on one key, one on every key, one that fails."""

from __future__ import annotations

from funchost import FunctionContext, config_change

CHANGES: list[tuple[str, dict]] = []


@config_change("configstore", keys=["feature_x"])
async def on_feature(items: dict, ctx: FunctionContext) -> None:
    CHANGES.append(("on_feature", items))


@config_change("configstore", keys=["feature_x", "limit"])
def on_feature_or_limit(items: dict) -> None:  # sync functions run in the thread pool
    CHANGES.append(("on_feature_or_limit", items))


@config_change("configstore")
async def on_anything(items: dict) -> None:
    CHANGES.append(("on_anything", items))


@config_change("configstore", keys=["broken"])
async def fails(items: dict) -> None:
    raise RuntimeError("cannot apply the change")
