"""Built-in trigger wiring: one plugin module per trigger kind (registered by `plugins`)."""
