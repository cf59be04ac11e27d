use std::sync::Arc;

use crate::auth::Hashing;
use crate::config::Config;
use crate::ratelimit::FailureLimiter;
use crate::sign_outs::SignOuts;
use crate::store::Store;
use crate::ws::Hub;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub hub: Hub,
    pub token_failures: Arc<FailureLimiter>,
    /// Failed sign-ins, per client address and per username.
    pub login_failures: Arc<FailureLimiter>,
    pub username_failures: Arc<FailureLimiter<String>>,
    /// Password hashing, a few at a time.
    pub hashing: Hashing,
    /// Origin for links, e.g. `http://127.0.0.1:8080`.
    pub public_url: Arc<str>,
    /// Sign-ins that ended, for the sockets they opened.
    pub sign_outs: SignOuts,
}
