//! SNTP on the async API: the sans-IO client ([`SntpClient`]) moved through
//! a UDP socket, sleeping until a reply or its next timer.

use core::future::poll_fn;

use embassy_futures::select::select;
use embassy_time::Timer;

use super::{Stack, UdpSocket, now};
use crate::endpoint::IpEndpoint;
use crate::sntp::{self, SntpClient, TimeSample};

/// Runs `client` against `server` until it accepts a time sample (the
/// first right away, later ones at its poll interval) and returns it;
/// [`SntpClient::now_unix`] then tells the time. Retries follow the
/// client's back-off; bound the wait with a timeout if the server may be
/// gone.
pub async fn next_sample(
    stack: Stack<'_>,
    client: &mut SntpClient,
    socket: &UdpSocket<'_>,
    server: IpEndpoint,
) -> TimeSample {
    loop {
        let handle = socket.handle();
        if let Some(sample) = stack.with(|s| sntp::run_on_stack(client, s, handle, server, now())) {
            return sample;
        }
        let reply = poll_fn(|cx| stack.with(|s| s.udp(handle).poll_recv_ready(cx)));
        match client.poll_timeout() {
            Some(at) => {
                let timer = Timer::at(embassy_time::Instant::from_micros(at.as_micros()));
                select(reply, timer).await;
            }
            None => reply.await,
        }
    }
}
