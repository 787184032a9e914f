//! Wire formats: zero-copy views over packet bytes.
