//! MQTT over Duet's TLS: our TLS client (`TlsConnection` over a TCP
//! stream) to mosquitto's TLS 1.3 and TLS 1.2 listeners, with the test PKI;
//! the MQTT packets are Duet's codec, for both protocol versions.

use std::net::TcpStream;

use duet::crypto::x509::trust_anchor_from_der;
use duet::mqtt::codec::{
    Ack, Connect, Disconnect, Error, Properties, Publish, QoS, Subscribe, SubscribeFilters,
    SubscribeOptions,
};
use duet::mqtt::{Packet, ProtocolVersion};
use duet::tls::{ClientCertificate, ClientConfig, ClientConnection, TlsConnection};
use embedded_io_async::Write as _;

#[path = "common/blocking_stream.rs"]
mod blocking_stream;
use blocking_stream::BlockingStream;

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/test/");

#[path = "common/tls_client.rs"]
mod tls_client;
use tls_client::{Memory, config, now_unix};

#[path = "common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

#[path = "common/device.rs"]
mod device;
use device::{DEVICE_KEY, device_provider};

#[path = "common/mosquitto.rs"]
mod mosquitto;
use mosquitto::Broker;

/// How the client authenticates to the broker.
#[derive(Clone, Copy, PartialEq)]
enum ClientAuth {
    /// Anonymously (the server authenticates only itself).
    None,
    /// With the test PKI's device-01 certificate, which the broker
    /// requires (`require_certificate`) and checks against the test root.
    DeviceCertificate,
}

/// mosquitto with one TLS listener on the test PKI's broker certificate,
/// speaking only `tls_version` (`tlsv1.3` or `tlsv1.2`).
fn tls_broker(tls_version: &str, auth: ClientAuth) -> Broker {
    let max_protocol = (tls_version == "tlsv1.2").then_some("TLSv1.2");
    let require = if auth == ClientAuth::DeviceCertificate {
        "require_certificate true\n"
    } else {
        ""
    };
    Broker::start_with_max_tls(
        &format!(
            "cafile {CERTS}root-ca.pem\ncertfile {CERTS}server-p256.chain.pem\n\
             keyfile {CERTS}server-p256.key\ntls_version {tls_version}\n{require}"
        ),
        max_protocol,
    )
}

/// Reads from `tls` into `buf[*held..]` until one whole packet is there,
/// then returns its length; the caller decodes `buf[..len]` and calls
/// [`consume`] once done with it.
async fn next_packet<T: embedded_io_async::Read>(
    tls: &mut T,
    buf: &mut [u8],
    held: &mut usize,
    version: ProtocolVersion,
) -> usize {
    loop {
        match Packet::decode(&buf[..*held], version) {
            Ok((_, len)) => return len,
            Err(Error::Incomplete) => {
                assert!(*held < buf.len(), "packet larger than the test buffer");
                let n = tls.read(&mut buf[*held..]).await.expect("TLS read");
                assert!(n > 0, "broker closed the connection");
                *held += n;
            }
            Err(e) => panic!("broker sent a malformed packet: {e:?}"),
        }
    }
}

/// Drops the first `len` bytes of the `held` bytes in `buf`.
fn consume(buf: &mut [u8], held: &mut usize, len: usize) {
    buf.copy_within(len..*held, 0);
    *held -= len;
}

/// One session over our TLS client: CONNECT/CONNACK, SUBSCRIBE at
/// QoS 1, a QoS 1 PUBLISH large enough to span two TLS records (so the
/// broker's copy back arrives split across records too), PUBACK both ways,
/// PINGREQ/PINGRESP, DISCONNECT and close_notify.
fn session_over_tls(version: ProtocolVersion, tls_version: &str, auth: ClientAuth) {
    let broker = tls_broker(tls_version, auth);
    let stream = BlockingStream(TcpStream::connect(("127.0.0.1", broker.port)).unwrap());
    let (soft, chain) = device_provider();
    let chain: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let client_certificate = (auth == ClientAuth::DeviceCertificate).then_some(ClientCertificate {
        chain: &chain,
        key: DEVICE_KEY,
    });
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    let mut memory = Memory::new();
    let mut rng = TestRng(now_unix(), 11);
    let engine = ClientConnection::new(
        &soft,
        ClientConfig {
            server_name: "broker.iot.test",
            client_certificate,
            ..config(&anchors)
        },
        memory.buffers(),
        &mut rng,
    )
    .unwrap();
    let topic = "duet/over-tls";
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    embassy_futures::block_on(async {
        let mut tls = TlsConnection::connect(engine, stream)
            .await
            .expect("TLS handshake with mosquitto");
        assert_eq!(
            tls.engine().cipher_suite().is_tls12(),
            tls_version == "tlsv1.2",
            "negotiated {:?}",
            tls.engine().cipher_suite()
        );
        let mut out = vec![0u8; 32 * 1024];
        let mut buf = vec![0u8; 32 * 1024];
        let mut held = 0;

        let connect = Connect {
            version,
            clean_start: true,
            keep_alive: 30,
            properties: Properties::EMPTY,
            client_id: "duet-over-tls",
            will: None,
            username: None,
            password: None,
        };
        let n = Packet::Connect(connect).encode(version, &mut out).unwrap();
        tls.write_all(&out[..n]).await.unwrap();
        tls.flush().await.unwrap();
        let len = next_packet(&mut tls, &mut buf, &mut held, version).await;
        match Packet::decode(&buf[..len], version).unwrap().0 {
            Packet::ConnAck(ack) => {
                assert!(!ack.session_present);
                assert_eq!(ack.reason_code, 0, "connection accepted");
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
        consume(&mut buf, &mut held, len);

        let filters = [(topic, SubscribeOptions::qos(QoS::AtLeastOnce))];
        let subscribe = Subscribe {
            packet_id: 1,
            properties: Properties::EMPTY,
            filters: SubscribeFilters::List(&filters),
        };
        let n = Packet::Subscribe(subscribe)
            .encode(version, &mut out)
            .unwrap();
        tls.write_all(&out[..n]).await.unwrap();
        tls.flush().await.unwrap();
        let len = next_packet(&mut tls, &mut buf, &mut held, version).await;
        match Packet::decode(&buf[..len], version).unwrap().0 {
            Packet::SubAck(ack) => {
                assert_eq!(ack.packet_id, 1);
                assert_eq!(ack.reason_codes, &[1], "QoS 1 granted");
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
        consume(&mut buf, &mut held, len);

        let publish = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic,
            packet_id: 2,
            properties: Properties::EMPTY,
            payload: &payload,
        };
        let n = Packet::Publish(publish).encode(version, &mut out).unwrap();
        assert!(n > 16 * 1024, "the PUBLISH spans two TLS records");
        tls.write_all(&out[..n]).await.unwrap();
        tls.flush().await.unwrap();
        // The PUBACK for ours and the broker's copy come in either order.
        let (mut acked, mut delivered) = (false, false);
        while !(acked && delivered) {
            let len = next_packet(&mut tls, &mut buf, &mut held, version).await;
            let mut reply = None;
            match Packet::decode(&buf[..len], version).unwrap().0 {
                Packet::PubAck(ack) => {
                    assert_eq!((ack.packet_id, ack.reason_code), (2, 0));
                    acked = true;
                }
                Packet::Publish(got) => {
                    assert_eq!((got.topic, got.qos), (topic, QoS::AtLeastOnce));
                    assert!(
                        got.payload == payload.as_slice(),
                        "payload intact through TLS both ways"
                    );
                    reply = Some(got.packet_id);
                    delivered = true;
                }
                other => panic!("expected PUBACK or PUBLISH, got {other:?}"),
            }
            consume(&mut buf, &mut held, len);
            if let Some(packet_id) = reply {
                let ack = Ack {
                    packet_id,
                    reason_code: 0,
                    properties: Properties::EMPTY,
                };
                let n = Packet::PubAck(ack).encode(version, &mut out).unwrap();
                tls.write_all(&out[..n]).await.unwrap();
            }
        }

        let n = Packet::PingReq.encode(version, &mut out).unwrap();
        tls.write_all(&out[..n]).await.unwrap();
        tls.flush().await.unwrap();
        let len = next_packet(&mut tls, &mut buf, &mut held, version).await;
        assert!(matches!(
            Packet::decode(&buf[..len], version),
            Ok((Packet::PingResp, 2))
        ));
        consume(&mut buf, &mut held, len);
        assert_eq!(held, 0, "nothing unexpected from the broker");

        let n = Packet::Disconnect(Disconnect::NORMAL)
            .encode(version, &mut out)
            .unwrap();
        tls.write_all(&out[..n]).await.unwrap();
        tls.close().await.unwrap();
    });
}

#[test]
fn v311_session_over_our_tls_1_3() {
    session_over_tls(ProtocolVersion::V311, "tlsv1.3", ClientAuth::None);
}

#[test]
fn v5_session_over_our_tls_1_3() {
    session_over_tls(ProtocolVersion::V5, "tlsv1.3", ClientAuth::None);
}

#[test]
fn v311_session_over_our_tls_1_2() {
    session_over_tls(ProtocolVersion::V311, "tlsv1.2", ClientAuth::None);
}

#[test]
fn v5_session_over_our_tls_1_2() {
    session_over_tls(ProtocolVersion::V5, "tlsv1.2", ClientAuth::None);
}

/// mosquitto with `require_certificate`: the device authenticates with its
/// X.509 certificate, over both TLS versions.
#[test]
fn v311_session_with_a_client_certificate_over_tls_1_3() {
    session_over_tls(
        ProtocolVersion::V311,
        "tlsv1.3",
        ClientAuth::DeviceCertificate,
    );
}

#[test]
fn v5_session_with_a_client_certificate_over_tls_1_2() {
    session_over_tls(
        ProtocolVersion::V5,
        "tlsv1.2",
        ClientAuth::DeviceCertificate,
    );
}
