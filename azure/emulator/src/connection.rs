//! The async loop around one connection: TLS handshake, CONNECT and its
//! admission, then packets from the device, commands from the control API
//! and the two deadlines (keep-alive and token expiry), until one of them
//! ends it. All protocol decisions are made by [`Session`] and
//! [`admission`]; this file only moves bytes and waits.

use std::time::Duration;

use duet::mqtt::Packet;
use embedded_io_async::{Read, Write};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

use crate::admission::{self, Admitted};
use crate::clock::{now_unix, until_unix};
use crate::mqtt::{self, Outgoing};
use crate::session::Session;
use crate::state::{Command, Shared};
use crate::tls::{Received, TlsError, TlsTransport};
use crate::{CloseReason, Violation};

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client has, after the handshake, to send CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write may wait for a device that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest keep-alive IoT Hub honours, in seconds; a larger one is
/// treated as this.
const MAX_KEEP_ALIVE: u64 = 1177;

/// Serves one TLS connection over `stream` until it ends.
pub(crate) async fn serve<S: Read + Write>(shared: &Shared, stream: S) -> CloseReason {
    let Ok(mut tls) = TlsTransport::new(stream, shared.tls.clone()) else {
        return count(shared, CloseReason::Tls);
    };
    let mut inbox = Vec::new();
    match timeout(HANDSHAKE_TIMEOUT, tls.handshake(&mut inbox)).await {
        Ok(Ok(())) => {}
        Ok(Err(TlsError::Transport)) => return CloseReason::Transport,
        Ok(Err(TlsError::Tls)) | Err(_) => {
            // Counted first, so whoever sees the alert sees the count.
            let reason = count(shared, CloseReason::Tls);
            // Send the alert rustls queued, so the client learns why.
            let _ = timeout(WRITE_TIMEOUT, tls.flush()).await;
            return reason;
        }
    }
    let reason = count(shared, run(shared, &mut tls, &mut inbox).await);
    let _ = timeout(WRITE_TIMEOUT, tls.close()).await;
    reason
}

/// CONNECT, then the session.
async fn run<S: Read + Write>(
    shared: &Shared,
    tls: &mut TlsTransport<S>,
    inbox: &mut Vec<u8>,
) -> CloseReason {
    let len = match timeout(CONNECT_TIMEOUT, next_frame(tls, inbox)).await {
        Ok(Ok(len)) => len,
        Ok(Err(reason)) => return reason,
        Err(_) => return CloseReason::NoConnect,
    };
    let (admission, keep_alive, clean_session) = {
        let connect = match mqtt::decode(&inbox[..len]) {
            Ok(Packet::Connect(connect)) => connect,
            Ok(_) => return CloseReason::Violation(Violation::UnexpectedPacket),
            Err(violation) => return CloseReason::Violation(violation),
        };
        let client_cn = tls.client_common_name();
        let admission = admission::admit(
            &mut shared.lock(),
            &connect,
            client_cn.as_deref(),
            now_unix(),
        );
        (admission, connect.keep_alive, connect.clean_start)
    };
    inbox.drain(..len);
    let admitted = match admission {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let refused = Outgoing::ConnAck {
                session_present: false,
                code: refusal.return_code(),
            };
            tls.send(&refused.encode());
            let _ = timeout(WRITE_TIMEOUT, tls.flush()).await;
            return CloseReason::Refused(refusal);
        }
    };
    let mut session = Session::new(&admitted, clean_session);
    let reason = run_session(shared, tls, inbox, &mut session, admitted, keep_alive).await;
    session.finish(shared);
    reason
}

/// The admitted session's loop.
async fn run_session<S: Read + Write>(
    shared: &Shared,
    tls: &mut TlsTransport<S>,
    inbox: &mut Vec<u8>,
    session: &mut Session,
    admitted: Admitted,
    keep_alive: u16,
) -> CloseReason {
    let Admitted {
        session_present,
        token_expiry,
        mut commands,
        ..
    } = admitted;
    // MQTT 3.1.1 §3.1.2.10: one and a half keep-alives of silence.
    let idle_limit = (keep_alive > 0)
        .then(|| Duration::from_millis(u64::from(keep_alive).min(MAX_KEEP_ALIVE) * 1500));
    let token_deadline = token_expiry.map(|expiry| Instant::now() + until_unix(expiry));
    let mut last_heard = Instant::now();
    let mut out = vec![Outgoing::ConnAck {
        session_present,
        code: 0,
    }];
    session.start(shared, &mut out);
    let mut peer_closed = false;
    loop {
        for packet in out.drain(..) {
            tls.send(&packet.encode());
        }
        if !matches!(timeout(WRITE_TIMEOUT, tls.flush()).await, Ok(Ok(()))) {
            return CloseReason::Transport;
        }
        match mqtt::next_frame_len(inbox) {
            Err(violation) => return CloseReason::Violation(violation),
            Ok(Some(len)) => {
                let handled = mqtt::decode(&inbox[..len])
                    .map_err(CloseReason::Violation)
                    .and_then(|packet| session.on_packet(shared, packet, &mut out));
                inbox.drain(..len);
                if let Err(reason) = handled {
                    return reason;
                }
                continue;
            }
            Ok(None) if peer_closed => return CloseReason::PeerClosed,
            Ok(None) => {}
        }
        let received = tokio::select! {
            command = next_command(&mut commands) => {
                if let Err(reason) = session.on_command(shared, command, &mut out) {
                    return reason;
                }
                continue;
            }
            received = tls.receive(inbox) => received,
            () = sleep_until_some(idle_limit.map(|limit| last_heard + limit)) => {
                return CloseReason::KeepAliveExpired;
            }
            () = sleep_until_some(token_deadline) => return CloseReason::TokenExpired,
        };
        match received {
            Ok(Received::Data) => last_heard = Instant::now(),
            Ok(Received::Closed) => peer_closed = true,
            Err(TlsError::Transport) => return CloseReason::Transport,
            Err(TlsError::Tls) => return CloseReason::Tls,
        }
    }
}

/// Reads until `inbox` starts with a whole frame; its length.
async fn next_frame<S: Read + Write>(
    tls: &mut TlsTransport<S>,
    inbox: &mut Vec<u8>,
) -> Result<usize, CloseReason> {
    loop {
        if let Some(len) = mqtt::next_frame_len(inbox).map_err(CloseReason::Violation)? {
            return Ok(len);
        }
        match tls.receive(inbox).await {
            Ok(Received::Data) => {}
            Ok(Received::Closed) => return Err(CloseReason::NoConnect),
            Err(TlsError::Transport) => return Err(CloseReason::Transport),
            Err(TlsError::Tls) => return Err(CloseReason::Tls),
        }
    }
}

/// The next control-API command; never, for a connection without any.
/// A closed channel means the device's record replaced this connection.
async fn next_command(commands: &mut Option<mpsc::UnboundedReceiver<Command>>) -> Command {
    match commands {
        Some(receiver) => receiver
            .recv()
            .await
            .unwrap_or(Command::Close(CloseReason::Superseded)),
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Counts a close for cause in the shared counters, and passes it on.
fn count(shared: &Shared, reason: CloseReason) -> CloseReason {
    match reason {
        CloseReason::Violation(violation) => shared.lock().violations.count(violation),
        CloseReason::Tls => shared.lock().violations.tls_failures += 1,
        _ => {}
    }
    reason
}
