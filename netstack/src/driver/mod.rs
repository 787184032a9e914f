//! Host drivers (feature `std`).
