//! Serving `https` and `wss` directly, with rustls.
//!
//! Most deployments terminate TLS at a proxy (see `docs/security.md`); `--tls-cert` and
//! `--tls-key` are for the ones that do not. The listener accepts TCP connections and runs each
//! TLS handshake in its own task, so one slow or hostile handshake never holds up the others,
//! and hands finished streams to axum as an ordinary listener.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::app::listener::{AcceptedStream, Acceptor, RefusalAnswer};
use crate::limits::ConnectionLimits;

/// A handshake that takes longer than this is abandoned.
/// Finished handshakes waiting for axum to take them.
const READY_CONNECTIONS: usize = 128;

/// Why the TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Only one of `--tls-cert` and `--tls-key` was given.
    #[error("--tls-cert and --tls-key go together: give both or neither")]
    Incomplete,
    /// The certificate file could not be read as PEM certificates.
    #[error("cannot read the certificate chain {path}: {source}")]
    Certificate {
        path: std::path::PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The key file could not be read as a PEM private key.
    #[error("cannot read the private key {path}: {source}")]
    Key {
        path: std::path::PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the certificate and key (mismatched, unsupported...).
    #[error("the certificate and key are not usable: {0}")]
    Config(#[source] rustls::Error),
}

/// Loads a certificate chain and key into a TLS acceptor offering HTTP/1.1 (which WebSocket
/// upgrades need).
pub fn load_acceptor(certificate: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certificate {
            path: certificate.to_path_buf(),
            source,
        })?;
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A listener yielding TLS streams whose handshakes have completed.
pub struct TlsListener {
    ready: mpsc::Receiver<(AcceptedStream<TlsStream<TcpStream>>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` until `shutdown`, handshaking with `acceptor`; the TLS handshake and then
    /// the first request's headers must each arrive within `handshake_timeout`.
    pub fn new(
        tcp: TcpListener,
        acceptor: TlsAcceptor,
        handshake_timeout: Duration,
        limits: Arc<ConnectionLimits>,
        shutdown: CancellationToken,
    ) -> Self {
        let local = tcp
            .local_addr()
            .expect("a bound TCP listener has a local address");
        let (sender, ready) = mpsc::channel(READY_CONNECTIONS);
        let mut tcp = Acceptor::new(tcp, limits, RefusalAnswer::Close);
        tokio::spawn(async move {
            loop {
                let (stream, peer, permit) = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    accepted = tcp.accept() => accepted,
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let guarded = AcceptedStream::new(tls, handshake_timeout, permit);
                            let _ = sender.send((guarded, peer)).await;
                        }
                        Ok(Err(error)) => debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { ready, local }
    }
}

impl Listener for TlsListener {
    type Io = AcceptedStream<TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // Shutting down: nothing more will come; axum stops calling once its own shutdown
            // signal fires.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
