//! The measured side: Duet's own TCP engine (`duet-netstack`, feature `tcp`)
//! on both ends of the link, as [`super::StackPair`] for [`super::run`].
//!
//! NOT IN THE MODULE TREE YET: Duet's TCP engine is being written, and this
//! file is its author's to fill. Until then `cargo xtask bench tcp` runs
//! smoltcp alone and prints `duet_cpu_s_per_gib=unavailable`.
//!
//! # Wiring it in
//!
//! 1. `xtask/bench/Cargo.toml`: depend on the engine,
//!    `duet-netstack = { path = "../../netstack", default-features = false,
//!    features = ["tcp", "std"] }` (plus whatever the engine's socket API
//!    needs; not `log`: logging calls must not be in the measured loop).
//!    No cargo feature: CI lints with `--all-features`, and the bench must
//!    build whenever it is in the tree.
//! 2. `tcp/mod.rs`: add `mod duet;`, and make `run_duet` return
//!    `run::<duet::DuetPair>(bytes).map(Some)`. `main.rs` then prints the
//!    Duet detail line and the summary with the ratio; its line formats do
//!    not change.
//! 3. Run `cargo xtask bench tcp --gib 0.0625` (smoke), then the full
//!    4 GiB, and record both stacks' lines.
//!
//! # What `DuetPair` must do
//!
//! `DuetPair` holds two Duet `Stack`s (client and server) with their
//! resources, each with one interface and one TCP socket, and implements
//! [`super::StackPair`]:
//!
//! - `new(link)`: builds both stacks with every buffer allocated here, none
//!   later: client [`super::CLIENT_MAC`] / [`super::CLIENT_IPV4`], server
//!   [`super::SERVER_MAC`] / [`super::SERVER_IPV4`], both
//!   /[`super::PREFIX_LEN`]; each TCP socket with [`super::BUFFER_LEN`]
//!   (64 KiB) send and receive buffers, and the engine's defaults otherwise
//!   (as smoltcp runs with its own: Nagle on, delayed ACK as the engine does
//!   it). A stack that needs a seed takes a fixed one, so runs repeat.
//! - `open(now_us)`: server listens on [`super::SERVER_PORT`], client
//!   connects from [`super::CLIENT_PORT`].
//! - `established()`: both sockets ESTABLISHED.
//! - `poll(now_us, link)`: `client.poll(Instant::from_micros(now_us), &mut
//!   link.end(Side::Client))`, then the same for the server. `Stack::poll`
//!   takes an `embassy_net_driver::Driver`, so implement `Driver` for
//!   [`crate::link::LinkEnd`] beside this file the way `smoltcp_pair.rs`
//!   implements smoltcp's `Device`: `receive` gives a token pair only while
//!   `rx` holds a frame AND `tx` has room (the link pushes back, it never
//!   drops); `transmit` only while `tx` has room; the RX token reads
//!   `rx.front()` then `rx.remove_front()`; the TX token writes
//!   `tx.back_buffer(len)` then `tx.commit_back(len)` (which counts the frame
//!   for the ACK figure); `capabilities()` says `max_transmission_unit =
//!   FRAME_MAX` (1514) and `Checksum::Both` for every protocol, so Duet too
//!   computes and verifies every checksum in software; link state up;
//!   hardware address the host's MAC. A poll must take in EVERY frame the
//!   link holds for that stack and send everything it can, as smoltcp's
//!   `Interface::poll` does: if `Config::rx_budget` would stop early, raise
//!   it, or poll again while frames wait — otherwise Duet takes more loop
//!   iterations than smoltcp for the same data and the ACK figure shifts.
//! - `client_send(data)` / `server_recv(buf)`: the sockets' copying send and
//!   receive (the application copies in and out, as with smoltcp's
//!   `send_slice` / `recv_slice`); 0 when full / empty; a closed or reset
//!   socket is a [`super::StackError`].
//!
//! Nothing in `poll`, `client_send` or `server_recv` may allocate or print:
//! the loop around them is what is timed.
