"""Quality filters: one module per filter, run in the order of apply.FILTERS; the first that rejects a row names its reject reason."""
