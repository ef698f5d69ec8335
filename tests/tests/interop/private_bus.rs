//! A private server of either bus, for the scenarios that stop and restart the server.

use super::nats_server::PrivateNats;
use super::redis_server::PrivateRedis;
use super::Bus;

#[derive(Debug)]
pub enum PrivateBus {
    Redis(PrivateRedis),
    Nats(PrivateNats),
}

impl PrivateBus {
    /// Starts a server of `bus` on a free port of its own.
    pub async fn start(bus: Bus) -> PrivateBus {
        match bus {
            Bus::Redis => PrivateBus::Redis(PrivateRedis::start().await),
            Bus::Nats => PrivateBus::Nats(PrivateNats::start().await),
        }
    }

    pub fn url(&self) -> String {
        match self {
            PrivateBus::Redis(s) => s.url(),
            PrivateBus::Nats(s) => s.url(),
        }
    }

    /// (Re)starts the server on its port.
    pub async fn up(&mut self) {
        match self {
            PrivateBus::Redis(s) => s.up().await,
            PrivateBus::Nats(s) => s.up().await,
        }
    }

    /// Kills the server: every client connection drops at once.
    pub async fn down(&mut self) {
        match self {
            PrivateBus::Redis(s) => s.down().await,
            PrivateBus::Nats(s) => s.down().await,
        }
    }
}
