//! The event catalog (until the catalog branch lands: the schema path check only).

pub mod paths;
