//! HTTP API (stub while the modules below it come together).
