//! The emulated cloud's network services: what a real network gives a
//! device before it reaches Azure (an address, a resolver, the time).
