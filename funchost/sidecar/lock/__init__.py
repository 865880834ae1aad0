"""The distributed lock API of the embedded sidecar (daprd's `TryLockAlpha1` / `UnlockAlpha1`).

- `_store.py`     the `LockStore` Protocol, `UnlockStatus` and daprd's key rewriting
- `registry.py`   `LOCK_STORES`: component type -> store factory
- `sqlite.py`     `lock.sqlite`, the embedded durable default (`lockstore`), in the sidecar db
- `redis.py`      `lock.redis`: `SET key owner NX PX` and components-contrib's Lua unlock
- `subsystem.py`  `/v1.0-alpha1/lock|unlock/<store>` and the gRPC methods, with daprd's checks
"""
