//! Stopping on SIGINT (Ctrl-C) or SIGTERM, as a Moleculer.js node does on its process signals.

use super::Broker;
use crate::error::Error;
use std::fmt;

/// The process signal that asked the broker to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM: what `kill`, systemd, Docker and Kubernetes send.
    Terminate,
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        })
    }
}

impl Broker {
    /// Waits for SIGINT or SIGTERM (only Ctrl-C off Unix) and says which came. The process's
    /// default handling of both signals (exit at once) is replaced from the first poll on.
    ///
    /// Use it to race the signal against work of your own, then stop the broker yourself:
    ///
    /// ```no_run
    /// # use broker_core::Broker;
    /// # async fn serve(broker: Broker, my_work: impl std::future::Future<Output = ()>) -> Result<(), broker_core::Error> {
    /// tokio::select! {
    ///     signal = Broker::wait_for_signal() => {
    ///         tracing::info!("{} received", signal?);
    ///     }
    ///     () = my_work => {}
    /// }
    /// broker.stop().await
    /// # }
    /// ```
    pub async fn wait_for_signal() -> Result<StopSignal, Error> {
        wait().await.map_err(|err| {
            Error::server(
                format!("cannot listen for process signals: {err}"),
                500,
                "SIGNAL_ERROR",
            )
            .with_retryable(false)
        })
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully ([`Broker::stop`]): the cluster
    /// is told the services are gone, requests in flight finish (within the shutdown
    /// timeout), and DISCONNECT is sent so that peers drop this node at once. Returns the
    /// signal, or the error of listening or of stopping.
    ///
    /// ```no_run
    /// # use broker_core::Broker;
    /// # async fn run(broker: Broker) -> Result<(), broker_core::Error> {
    /// broker.start().await?;
    /// broker.run_until_signal().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run_until_signal(&self) -> Result<StopSignal, Error> {
        let signal = Broker::wait_for_signal().await?;
        tracing::info!(node_id = %self.node_id(), %signal, "stopping the broker on {signal}");
        self.stop().await?;
        Ok(signal)
    }
}

#[cfg(unix)]
async fn wait() -> std::io::Result<StopSignal> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => Ok(StopSignal::Interrupt),
        _ = terminate.recv() => Ok(StopSignal::Terminate),
    }
}

#[cfg(not(unix))]
async fn wait() -> std::io::Result<StopSignal> {
    tokio::signal::ctrl_c().await?;
    Ok(StopSignal::Interrupt)
}
