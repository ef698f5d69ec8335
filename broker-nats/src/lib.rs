//! NATS for the broker: a transporter speaking Moleculer's NATS channels, and the NATS service
//! API (ADR-32) that exposes the broker's services to any NATS client.

pub mod micro;
