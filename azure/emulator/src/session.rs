//! The server's half of an MQTT 3.1.1 session after CONNACK, as IoT Hub
//! and DPS run it: QoS 0 and 1 only (a QoS 2 PUBLISH closes the
//! connection), at most five topic filters, PINGREQ answered, and each
//! application message handed to the service the device authenticated
//! for. Sans-IO: packets and commands in, packets to send out.

use duet::mqtt::codec::{Publish, SUBACK_FAILURE};
use duet::mqtt::{Packet, QoS};

use crate::admission::{Admitted, Identity};
use crate::dps::DpsClient;
use crate::hub::HubDevice;
use crate::mqtt::{OutPublish, Outgoing};
use crate::state::{Command, Shared};
use crate::subscriptions::Subscriptions;
use crate::{CloseReason, Violation};

/// The service behind a connection.
#[derive(Debug)]
enum Service {
    Hub(HubDevice),
    Dps(DpsClient),
}

/// One connection's MQTT session.
#[derive(Debug)]
pub(crate) struct Session {
    subscriptions: Subscriptions,
    clean_session: bool,
    service: Service,
}

impl Session {
    /// The session CONNECT opened, as admitted.
    pub(crate) fn new(admitted: &Admitted, clean_session: bool) -> Self {
        let service = match &admitted.identity {
            Identity::Device(device_id) => {
                Service::Hub(HubDevice::new(device_id.clone(), admitted.connection))
            }
            Identity::Registration {
                registration_id,
                attestation,
            } => Service::Dps(DpsClient::new(registration_id.clone(), attestation.clone())),
        };
        Session {
            subscriptions: admitted.subscriptions.clone(),
            clean_session,
            service,
        }
    }

    /// Right after CONNACK: a resumed session receives what waited for it.
    pub(crate) fn start(&mut self, shared: &Shared, out: &mut Vec<Outgoing>) {
        if let Service::Hub(hub) = &mut self.service {
            let mut messages = Vec::new();
            hub.deliver_c2d(shared, &self.subscriptions, &mut messages);
            out.extend(messages.into_iter().map(Outgoing::Publish));
        }
    }

    /// Handles one packet from the device; `Err` closes the connection.
    pub(crate) fn on_packet(
        &mut self,
        shared: &Shared,
        packet: Packet<'_>,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), CloseReason> {
        match packet {
            Packet::Publish(publish) => self.on_publish(shared, &publish, out),
            Packet::PubAck(ack) => {
                if let Service::Hub(hub) = &mut self.service {
                    hub.on_puback(shared, ack.packet_id);
                }
                Ok(())
            }
            Packet::Subscribe(subscribe) => {
                let codes = subscribe
                    .filters
                    .iter()
                    .map(|(filter, options)| {
                        let allowed = match &self.service {
                            Service::Hub(hub) => {
                                hub.allows_filter(filter) && !hub.refusal_injected(shared, filter)
                            }
                            Service::Dps(dps) => {
                                dps.allows_filter(filter) && !dps.refusal_injected(shared, filter)
                            }
                        };
                        if allowed && self.subscriptions.subscribe(filter) {
                            options.qos.min(QoS::AtLeastOnce) as u8
                        } else {
                            SUBACK_FAILURE
                        }
                    })
                    .collect();
                out.push(Outgoing::SubAck {
                    packet_id: subscribe.packet_id,
                    codes,
                });
                self.subscriptions_changed(shared, out);
                Ok(())
            }
            Packet::Unsubscribe(unsubscribe) => {
                for filter in unsubscribe.filters.iter() {
                    self.subscriptions.unsubscribe(filter);
                }
                out.push(Outgoing::UnsubAck(unsubscribe.packet_id));
                self.subscriptions_changed(shared, out);
                Ok(())
            }
            Packet::PingReq => {
                out.push(Outgoing::PingResp);
                Ok(())
            }
            Packet::Disconnect(_) => Err(CloseReason::ClientDisconnected),
            _ => Err(CloseReason::Violation(Violation::UnexpectedPacket)),
        }
    }

    /// A PUBLISH: QoS 2 is refused; the service answers; QoS 1 is
    /// acknowledged once the service has taken the message.
    fn on_publish(
        &mut self,
        shared: &Shared,
        publish: &Publish<'_>,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), CloseReason> {
        if publish.qos == QoS::ExactlyOnce {
            return Err(CloseReason::Violation(Violation::Qos2Publish));
        }
        let mut answers = Vec::new();
        match &mut self.service {
            Service::Hub(hub) => hub.on_publish(
                shared,
                &self.subscriptions,
                publish.topic,
                publish.payload,
                &mut answers,
            )?,
            Service::Dps(dps) => dps.on_publish(
                shared,
                &self.subscriptions,
                publish.topic,
                publish.payload,
                &mut answers,
            )?,
        }
        if publish.qos == QoS::AtLeastOnce {
            out.push(Outgoing::PubAck(publish.packet_id));
        }
        out.extend(answers.into_iter().map(Outgoing::Publish));
        Ok(())
    }

    /// Carries out a control-API command; `Err` closes the connection.
    pub(crate) fn on_command(
        &mut self,
        shared: &Shared,
        command: Command,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), CloseReason> {
        match &mut self.service {
            Service::Hub(hub) => {
                let mut messages: Vec<OutPublish> = Vec::new();
                hub.on_command(shared, &self.subscriptions, command, &mut messages)?;
                out.extend(messages.into_iter().map(Outgoing::Publish));
                Ok(())
            }
            // Nothing commands a DPS connection but a close.
            Service::Dps(_) => match command {
                Command::Close(reason) => Err(reason),
                _ => Ok(()),
            },
        }
    }

    /// The connection is over.
    pub(crate) fn finish(self, shared: &Shared) {
        if let Service::Hub(hub) = self.service {
            hub.finish(shared, self.clean_session);
        }
    }

    /// After SUBSCRIBE or UNSUBSCRIBE: the hub keeps the session's filters
    /// and sends what now matches.
    fn subscriptions_changed(&mut self, shared: &Shared, out: &mut Vec<Outgoing>) {
        if let Service::Hub(hub) = &mut self.service {
            hub.save_subscriptions(shared, &self.subscriptions);
            let mut messages = Vec::new();
            hub.deliver_c2d(shared, &self.subscriptions, &mut messages);
            out.extend(messages.into_iter().map(Outgoing::Publish));
        }
    }
}
