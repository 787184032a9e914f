//! `Emulator::serve` over a byte stream that is neither TCP nor `Send`: a
//! tokio in-memory duplex pipe behind an `Rc`-holding embedded-io-async
//! wrapper, served on the test's own task. This is the path Duet's own TCP
//! socket takes over an in-process link.

mod common;

use std::marker::PhantomData;
use std::rc::Rc;

use common::*;
use duet::mqtt::{Packet, QoS};
use duet_azure_emulator::{CloseReason, Emulator};
use embedded_io_adapters::tokio_1::FromTokio;
use tokio::io::DuplexStream;

/// An embedded-io-async stream that cannot leave its thread.
struct LocalStream {
    inner: FromTokio<DuplexStream>,
    _not_send: PhantomData<Rc<()>>,
}

impl embedded_io::ErrorType for LocalStream {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for LocalStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.inner.read(buf).await
    }
}

impl embedded_io_async::Write for LocalStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.inner.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await
    }
}

#[tokio::test]
async fn serve_runs_over_a_non_send_in_memory_stream() {
    let emulator = hub().await.0;
    let (device_end, hub_end) = tokio::io::duplex(64 * 1024);
    let stream = LocalStream {
        inner: FromTokio::new(hub_end),
        _not_send: PhantomData,
    };
    let device = async {
        let config = tls_config(rustls::ALL_VERSIONS, None);
        let mut device = TestDevice::over(device_end, config, HUB).await.unwrap();
        let password = hub_token("dev-1", KEY, now() + 3600);
        let ack = device
            .connect("dev-1", &hub_user_name("dev-1"), Some(&password), true)
            .await;
        assert_eq!(
            ack,
            Ok(Incoming::ConnAck {
                session_present: false,
                code: 0
            })
        );
        let id = device
            .publish(
                "devices/dev-1/messages/events/via=pipe",
                b"hi",
                QoS::AtLeastOnce,
            )
            .await;
        assert_eq!(device.recv(WAIT).await, Ok(Incoming::PubAck(id)));
        device.subscribe(&["$iothub/twin/res/#"]).await;
        device
            .publish("$iothub/twin/GET/?$rid=1", b"", QoS::AtMostOnce)
            .await;
        let (topic, _) = device.recv_publish(WAIT).await.unwrap().publish();
        assert_eq!(topic, "$iothub/twin/res/200/?$rid=1");
        device
            .send(Packet::Disconnect(duet::mqtt::codec::Disconnect::NORMAL))
            .await;
        assert!(device.closed_within(WAIT).await);
    };
    let (reason, ()) = tokio::join!(emulator.serve(stream), device);
    assert_eq!(reason, CloseReason::ClientDisconnected);
    let telemetry = emulator.telemetry("dev-1");
    assert_eq!(telemetry.len(), 1);
    assert_eq!(telemetry[0].property("via"), Some("pipe"));
    assert!(!emulator.is_connected("dev-1"));
    // The control API meanwhile works from a plain thread.
    let control = emulator.clone();
    std::thread::spawn(move || control.send_c2d("dev-1", &[], b"later"))
        .join()
        .unwrap();
    assert_eq!(emulator.pending_c2d("dev-1"), 1);
}

#[tokio::test]
async fn serve_reports_why_a_connection_ended() {
    let emulator: Emulator = hub().await.0;
    // A peer that is not TLS at all.
    let (mut device_end, hub_end) = tokio::io::duplex(4096);
    let device = async {
        use tokio::io::AsyncWriteExt;
        device_end
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
    };
    let (reason, ()) = tokio::join!(emulator.serve(FromTokio::new(hub_end)), device);
    assert_eq!(reason, CloseReason::Tls);
    assert_eq!(emulator.violations().tls_failures, 1);
}

/// Moves records between a hand-driven rustls client and `io` until the
/// handshake is done.
async fn handshake(client: &mut rustls::ClientConnection, io: &mut DuplexStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while client.is_handshaking() {
        let mut out = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut out).unwrap();
        }
        io.write_all(&out).await.unwrap();
        if client.is_handshaking() && client.wants_read() {
            let mut chunk = [0u8; 8192];
            let n = io.read(&mut chunk).await.unwrap();
            assert_ne!(n, 0, "the emulator hung up during the handshake");
            client.read_tls(&mut &chunk[..n]).unwrap();
            client.process_new_packets().unwrap();
        }
    }
    let mut out = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut out).unwrap();
    }
    io.write_all(&out).await.unwrap();
}

#[tokio::test]
async fn bytes_after_close_notify_end_the_connection_without_a_hang() {
    use tokio::io::AsyncWriteExt;
    let emulator = hub().await.0;
    let (mut device_end, hub_end) = tokio::io::duplex(64 * 1024);
    let device = async {
        let config = tls_config(rustls::ALL_VERSIONS, None);
        let name = rustls::pki_types::ServerName::try_from(HUB).unwrap();
        let mut client = rustls::ClientConnection::new(config, name).unwrap();
        handshake(&mut client, &mut device_end).await;
        // close_notify, then more than rustls takes in one read_tls, in
        // the same write.
        client.send_close_notify();
        let mut out = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut out).unwrap();
        }
        for _ in 0..1000 {
            out.extend_from_slice(b"\x17\x03\x03\x00\x05hello");
        }
        device_end.write_all(&out).await.unwrap();
        device_end
    };
    let serve = tokio::time::timeout(WAIT, emulator.serve(FromTokio::new(hub_end)));
    let (reason, _device_end) = tokio::join!(serve, device);
    assert_eq!(reason, Ok(CloseReason::NoConnect));
}
