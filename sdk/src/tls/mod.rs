//! TLS 1.2 and 1.3 client (being written).
