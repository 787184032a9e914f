//! Connecting to the emulated hub: SAS and X.509 authentication, the
//! refusals and their CONNACK codes, token expiry, takeover, sessions,
//! keep-alive and TLS versions.

mod common;

use std::time::Duration;

use common::*;
use duet_azure_emulator::{Config, DeviceAuth, Refusal};

#[tokio::test]
async fn a_valid_sas_token_is_accepted() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    assert!(emulator.is_connected("dev-1"));
    assert_eq!(emulator.connections("dev-1"), 1);
    device.send(duet::mqtt::Packet::PingReq).await;
    assert_eq!(device.recv(WAIT).await, Ok(Incoming::PingResp));
    assert_eq!(emulator.refusals().total(), 0);
}

/// CONNECTs as `client_id` with `user_name` and `password`; the CONNACK
/// code, after checking that the emulator then closes a refused connection.
async fn connack_code(
    addr: std::net::SocketAddr,
    client_id: &str,
    user_name: &str,
    password: Option<&[u8]>,
) -> u8 {
    let mut device = TestDevice::open(addr).await;
    let Ok(Incoming::ConnAck {
        session_present,
        code,
    }) = device.connect(client_id, user_name, password, true).await
    else {
        panic!("no CONNACK");
    };
    assert!(!session_present);
    if code != 0 {
        assert!(device.closed_within(WAIT).await, "refused but left open");
    }
    code
}

#[tokio::test]
async fn bad_credentials_are_refused_with_their_return_codes() {
    let (emulator, addr) = hub().await;
    let user = hub_user_name("dev-1");
    let valid = hub_token("dev-1", KEY, now() + 3600);
    /// Client id, user name, password, expected code and refusal.
    type Case<'a> = (&'a str, &'a str, Option<Vec<u8>>, u8, Refusal);
    let cases: [Case<'_>; 8] = [
        (
            "dev-1",
            &user,
            Some(hub_token("dev-1", KEY, now() - 10)),
            5,
            Refusal::ExpiredToken,
        ),
        (
            "dev-1",
            &user,
            Some(hub_token("dev-1", OTHER_KEY, now() + 3600)),
            5,
            Refusal::BadSignature,
        ),
        (
            "ghost",
            &hub_user_name("ghost"),
            Some(hub_token("ghost", KEY, now() + 3600)),
            5,
            Refusal::UnknownIdentity,
        ),
        // dev-2's valid token, presented by dev-1.
        (
            "dev-1",
            &user,
            Some(hub_token("dev-2", KEY, now() + 3600)),
            5,
            Refusal::WrongResource,
        ),
        (
            "dev-2",
            &user,
            Some(valid.clone()),
            2,
            Refusal::IdentifierRejected,
        ),
        (
            "dev-1",
            &user,
            Some(b"letmein".to_vec()),
            4,
            Refusal::MalformedToken,
        ),
        ("dev-1", &user, None, 5, Refusal::MissingCredentials),
        (
            "dev-1",
            "other.azure-devices.test/dev-1/?api-version=2020-09-30",
            Some(valid.clone()),
            4,
            Refusal::BadUserName,
        ),
    ];
    for (client_id, user_name, password, code, reason) in cases {
        assert_eq!(
            connack_code(addr, client_id, user_name, password.as_deref()).await,
            code,
            "{reason:?}"
        );
        assert_eq!(emulator.refusals().get(reason), 1, "{reason:?}");
        assert_eq!(reason.return_code(), code);
    }
    assert_eq!(emulator.refusals().total(), 8);
    assert_eq!(emulator.connections("dev-1"), 0);
    // The right credentials still work after all that.
    assert_eq!(connack_code(addr, "dev-1", &user, Some(&valid)).await, 0);
}

#[tokio::test]
async fn the_connection_closes_when_its_token_expires() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::open(addr).await;
    let password = hub_token("dev-1", KEY, now() + 2);
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
    assert!(!device.closed_within(Duration::from_millis(900)).await);
    assert!(device.closed_within(WAIT).await);
    assert!(eventually(|| !emulator.is_connected("dev-1")).await);
}

#[tokio::test]
async fn a_second_connection_of_a_device_supersedes_the_first() {
    let (emulator, addr) = hub().await;
    let mut first = TestDevice::hub(addr, "dev-1", KEY).await;
    let mut second = TestDevice::hub(addr, "dev-1", KEY).await;
    assert!(first.closed_within(WAIT).await);
    second.send(duet::mqtt::Packet::PingReq).await;
    assert_eq!(second.recv(WAIT).await, Ok(Incoming::PingResp));
    assert!(emulator.is_connected("dev-1"));
    assert_eq!(emulator.connections("dev-1"), 2);
    // Another device is not affected.
    let _other = TestDevice::hub(addr, "dev-2", KEY).await;
    second.send(duet::mqtt::Packet::PingReq).await;
    assert_eq!(second.recv(WAIT).await, Ok(Incoming::PingResp));
}

#[tokio::test]
async fn a_persistent_session_keeps_its_subscriptions() {
    let (emulator, addr) = hub().await;
    let user = hub_user_name("dev-1");
    let password = hub_token("dev-1", KEY, now() + 3600);
    let connect = |clean: bool| {
        let (user, password) = (user.clone(), password.clone());
        async move {
            let mut device = TestDevice::open(addr).await;
            let ack = device.connect("dev-1", &user, Some(&password), clean).await;
            (device, ack)
        }
    };
    let (mut device, ack) = connect(false).await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 0
        })
    );
    assert_eq!(
        device
            .subscribe(&["devices/dev-1/messages/devicebound/#"])
            .await,
        [1]
    );
    device
        .send(duet::mqtt::Packet::Disconnect(
            duet::mqtt::codec::Disconnect::NORMAL,
        ))
        .await;
    assert!(device.closed_within(WAIT).await);

    // Resumed: the subscription is still there, so a message arrives
    // without subscribing again.
    let (mut device, ack) = connect(false).await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: true,
            code: 0
        })
    );
    emulator.send_c2d("dev-1", &[], b"hello");
    let (_, payload) = device.recv_publish(WAIT).await.unwrap().publish();
    assert_eq!(payload, b"hello");
    drop(device);

    // A clean session starts from nothing, and leaves nothing behind.
    let (device, ack) = connect(true).await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 0
        })
    );
    drop(device);
    let (_device, ack) = connect(false).await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 0
        })
    );
}

#[tokio::test]
async fn an_x509_device_connects_with_its_certificate_and_no_password() {
    let (emulator, addr) = hub().await;
    let user = hub_user_name("device-01");
    let with_cert = |name: &'static str| async move {
        let config = tls_config(rustls::ALL_VERSIONS, Some(name));
        TestDevice::open_with(addr, config, HUB).await.unwrap()
    };
    let mut device = with_cert("device-01").await;
    let ack = device.connect("device-01", &user, None, true).await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 0
        })
    );
    assert!(emulator.is_connected("device-01"));

    // Another device's certificate, or none, does not prove device-01.
    let mut impostor = with_cert("device-02").await;
    let ack = impostor.connect("device-01", &user, None, true).await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 5
        })
    );
    assert_eq!(emulator.refusals().certificate_mismatch, 1);
    assert_eq!(connack_code(addr, "device-01", &user, None).await, 5);
    assert_eq!(emulator.refusals().missing_credentials, 1);
    // A SAS device cannot swap its key for a certificate.
    let mut sas_device = with_cert("device-01").await;
    let ack = sas_device
        .connect("dev-1", &hub_user_name("dev-1"), None, true)
        .await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 5
        })
    );
}

#[tokio::test]
async fn a_tls12_only_hub_refuses_a_tls13_only_client() {
    let config = Config::new(HUB)
        .with_device("dev-1", DeviceAuth::SymmetricKey(KEY.into()))
        .with_tls12_only();
    let (emulator, addr) = start(config).await;
    let tls13 = tls_config(&[&rustls::version::TLS13], None);
    assert!(TestDevice::open_with(addr, tls13, HUB).await.is_err());
    let tls12 = tls_config(&[&rustls::version::TLS12], None);
    let mut device = TestDevice::open_with(addr, tls12, HUB).await.unwrap();
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
    // The failed handshake is counted once the server side has finished.
    assert!(eventually(|| emulator.violations().tls_failures == 1).await);
}

#[tokio::test]
async fn the_default_hub_speaks_tls13_and_any_server_name_of_the_chain() {
    let (_emulator, addr) = hub().await;
    let tls13 = tls_config(&[&rustls::version::TLS13], None);
    for name in [HUB, DPS_HOST, "localhost"] {
        assert!(
            TestDevice::open_with(addr, tls13.clone(), name)
                .await
                .is_ok(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn silence_beyond_one_and_a_half_keep_alives_closes_the_connection() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::open(addr).await;
    let password = hub_token("dev-1", KEY, now() + 3600);
    let ack = device
        .connect_with_keep_alive("dev-1", &hub_user_name("dev-1"), Some(&password), true, 1)
        .await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 0
        })
    );
    // A ping within the keep-alive keeps it open.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    device.send(duet::mqtt::Packet::PingReq).await;
    assert_eq!(device.recv(WAIT).await, Ok(Incoming::PingResp));
    // Then silence: closed after 1.5 s, not before 1 s.
    assert!(!device.closed_within(Duration::from_millis(1000)).await);
    assert!(device.closed_within(Duration::from_millis(1500)).await);
    assert!(eventually(|| !emulator.is_connected("dev-1")).await);
}

#[tokio::test]
async fn an_mqtt5_connect_is_refused_as_an_unacceptable_version() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::open(addr).await;
    let password = hub_token("dev-1", KEY, now() + 3600);
    let user = hub_user_name("dev-1");
    device
        .send(duet::mqtt::Packet::Connect(duet::mqtt::codec::Connect {
            version: duet::mqtt::ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 60,
            properties: duet::mqtt::codec::Properties::EMPTY,
            client_id: "dev-1",
            will: None,
            username: Some(&user),
            password: Some(&password),
        }))
        .await;
    assert_eq!(
        device.recv(WAIT).await,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 1
        })
    );
    assert!(device.closed_within(WAIT).await);
    assert_eq!(emulator.refusals().unsupported_protocol, 1);
}
