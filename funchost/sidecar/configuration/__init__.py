"""The Configuration API of the embedded sidecar (daprd's `/v1.0/configuration` and gRPC).

- `_store.py`     the `ConfigurationStore` Protocol and `ConfigItem`
- `registry.py`   `CONFIGURATION_STORES`: component type -> store factory
- `sqlite.py`     `configuration.sqlite`, the embedded default (`configstore`), in the sidecar db
- `redis.py`      `configuration.redis`: `value||version` strings + keyspace notifications
- `postgresql.py` `configuration.postgresql`: Dapr's KEY/VALUE/VERSION/METADATA table + NOTIFY
- `subsystem.py`  HTTP routes, gRPC methods, subscriptions fanned out to streams / app callbacks

Kept free of imports so `funchost config` can load parts of it without the servers.
"""
