//! Starting the gateway: data directory, root key, store, bootstrap key, accept loop.

use std::future::Future;
use std::io;
use std::path::Path;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use veil_audit::{Event, KeyChange, KeyChangeEvent};
use veil_detect::Sensitive;
use veil_store::{KeyStore, Store};

use crate::auth::{ADMIN_ROLE, NewKey, create_key};
use crate::config::{LimitsConfig, Settings};
use crate::env;
use crate::state::AppState;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory or root key file failed.
    #[error("data directory `{path}`: {source}")]
    DataDir {
        /// The path.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The root key is malformed.
    #[error("root key {0}")]
    RootKey(&'static str),
    /// The store failed to open or migrate.
    #[error("store: {0}")]
    Store(#[from] veil_store::StoreError),
    /// Creating the bootstrap key failed.
    #[error("bootstrap key: {0}")]
    Key(#[from] crate::auth::KeyError),
    /// Building the state failed.
    #[error("{0}")]
    State(#[from] crate::error::GatewayError),
    /// The routing table failed: the HTTP client, or a local model (unregistered, changed
    /// since `veil models add`, invalid).
    #[error(transparent)]
    Upstreams(#[from] crate::upstream::UpstreamsError),
    /// An environment variable is unusable.
    #[error(transparent)]
    Env(#[from] env::EnvError),
    /// The JWT provider's keys could not be loaded.
    #[error("auth.jwt: {0}")]
    Jwks(#[from] crate::jwt::JwksError),
}

fn data_dir_err(path: &Path) -> impl Fn(io::Error) -> StartError + '_ {
    move |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    }
}

/// Creates the data directory (mode 0700 on Unix) if missing.
pub fn ensure_data_dir(dir: &Path) -> Result<(), StartError> {
    std::fs::create_dir_all(dir).map_err(data_dir_err(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(data_dir_err(dir))?;
    }
    Ok(())
}

/// The root key: `$VEIL_MASTER_KEY` (64 hex digits), else `DATA_DIR/root.key`, created with
/// mode 0600 on first start. Subkeys per purpose are derived from it.
pub fn load_root_key(data_dir: &Path) -> Result<Sensitive<[u8; 32]>, StartError> {
    let decode = |text: &str| {
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key)
            .map_err(|_| StartError::RootKey("must be 64 hex digits"))?;
        Ok(Sensitive::new(key))
    };
    if let Some(text) = env::var(env::MASTER_KEY)? {
        return decode(&text);
    }
    let path = data_dir.join("root.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => decode(&text),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|_| StartError::RootKey("cannot be generated"))?;
            write_private(&path, hex::encode(key).as_bytes()).map_err(data_dir_err(&path))?;
            Ok(Sensitive::new(key))
        }
        Err(err) => Err(data_dir_err(&path)(err)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Opens the configured store (SQLite in the data directory by default).
pub async fn open_store(settings: &Settings) -> Result<Store, StartError> {
    Ok(Store::connect(&settings.config.database_url()).await?)
}

/// On a store that has never held a key, creates an admin key and returns it (to print
/// once). Returns `None` on every later start.
pub async fn bootstrap_admin(store: &Store) -> Result<Option<Sensitive<String>>, StartError> {
    if store.count_keys().await? > 0 {
        return Ok(None);
    }
    let spec = NewKey {
        tenant: "default".into(),
        roles: vec![ADMIN_ROLE.into()],
        description: "bootstrap admin key".into(),
        ..NewKey::default()
    };
    let (secret, _) = create_key(store, spec).await?;
    Ok(Some(secret))
}

/// A gateway ready to serve.
#[derive(Debug, Clone)]
pub struct Gateway {
    state: AppState,
}

impl Gateway {
    /// Prepares everything a running gateway needs: data directory, root key, store (with
    /// migrations), state. Returns the bootstrap admin key on the very first start.
    pub async fn start(
        settings: Settings,
    ) -> Result<(Self, Option<Sensitive<String>>), StartError> {
        let data_dir = settings.config.server.data_dir.clone();
        ensure_data_dir(&data_dir)?;
        let root = load_root_key(&data_dir)?;
        let store = open_store(&settings).await?;
        let bootstrap = bootstrap_admin(&store).await?;
        let state = AppState::new(settings, store, root.expose())?;
        // Fail at startup, not on the first token, when the provider's keys cannot be had.
        if let Some(jwt) = state.auth.jwt() {
            jwt.refresh().await?;
        }
        if bootstrap.is_some() {
            // The bootstrap key is the only key of a fresh store: record its creation.
            for key in state.store.list_keys(None).await? {
                let event = Event::KeyChange(KeyChangeEvent {
                    key_id: key.id.clone(),
                    change: KeyChange::Created,
                    actor: "bootstrap".into(),
                });
                state
                    .store
                    .audit_append_signed(
                        state.recorder.keys().signing(),
                        "bootstrap",
                        "",
                        event,
                        crate::recorder::now_ms(),
                    )
                    .await?;
            }
        }
        Ok((Self { state }, bootstrap))
    }

    /// A gateway over an already open store (tests, embedding).
    pub fn with_store(
        settings: Settings,
        store: Store,
        root_key: &[u8; 32],
    ) -> Result<Self, StartError> {
        Ok(Self {
            state: AppState::new(settings, store, root_key)?,
        })
    }

    /// Like [`Gateway::with_store`] with a given analyzer (custom recognizers; tests that
    /// make detection fail).
    pub fn with_analyzer(
        settings: Settings,
        store: Store,
        root_key: &[u8; 32],
        analyzer: std::sync::Arc<veil_detect::Analyzer>,
    ) -> Result<Self, StartError> {
        Ok(Self {
            state: AppState::with_analyzer(settings, store, root_key, analyzer)?,
        })
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The application as a tower service (for `oneshot` tests).
    pub fn router(&self) -> axum::Router {
        crate::app::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then drains connections (up to
    /// 30 s) and closes the store. Speaks TLS when `[server.tls]` is configured.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        let limits = self.state.settings.config.limits.clone();
        let tls = self.state.settings.tls.clone();
        let handshake_timeout = Duration::from_secs(limits.header_read_timeout_secs);
        let router = self.router();
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            // The peer address reaches handlers as `ConnectInfo` (monitoring counts a key's
            // client addresses).
            let service = TowerToHyperService::new(tower::ServiceExt::map_request(
                router.clone(),
                move |mut request: http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                },
            ));
            let builder = http1_builder(&limits);
            let watcher = graceful.watcher();
            match tls.clone() {
                None => {
                    let conn =
                        watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        if let Err(err) = conn.await {
                            tracing::debug!(error = %err, "connection ended with an error");
                        }
                    });
                }
                Some(tls) => {
                    // The handshake runs in the connection's task, under the header-read
                    // timeout, so a client that stalls it holds neither the accept loop
                    // nor a connection slot for long.
                    tokio::spawn(async move {
                        let stream = match tokio::time::timeout(
                            handshake_timeout,
                            tls.inner().accept(stream),
                        )
                        .await
                        {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(err)) => {
                                tracing::debug!(error = %err, "tls handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!("tls handshake timed out");
                                return;
                            }
                        };
                        let conn =
                            watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                        if let Err(err) = conn.await {
                            tracing::debug!(error = %err, "connection ended with an error");
                        }
                    });
                }
            }
        }
        drop(listener);
        if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 30 s; closing");
        }
        // Commit what is queued and sign the tail, so a clean stop leaves nothing unsigned.
        self.state.recorder.close().await;
        self.state.store.close().await;
        Ok(())
    }
}

/// HTTP/1.1 connection settings: the header limit and the header-read timeout that cuts off
/// slow-loris clients (hyper answers 431 past the limit and closes on the timeout).
fn http1_builder(limits: &LimitsConfig) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs))
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
}
