"""Functions that query state with `ctx.query_state`, and fail where daprd would."""

from __future__ import annotations

from funchost import FunctionContext, invoke


@invoke("orders", methods=("POST",))
async def add_orders(body: list, ctx: FunctionContext) -> None:
    for order in body:
        await ctx.save_state(order["id"], order, store="pgstore")


@invoke("orders/by-status/{status}", methods=("GET",))
async def by_status(status: str, ctx: FunctionContext) -> dict:
    page = await ctx.query_state(
        {"filter": {"EQ": {"status": status}}, "sort": [{"key": "id"}], "page": {"limit": 2}},
        store="pgstore",
    )
    return {"orders": [e.value for e in page.results], "token": page.token}


@invoke("query-default-store", methods=("GET",))
async def query_default(ctx: FunctionContext) -> str:
    try:
        await ctx.query_state({"filter": {"EQ": {"status": "new"}}})
    except Exception as exc:  # daprd refuses: state.sqlite cannot query
        return str(exc)
    return "no error"
