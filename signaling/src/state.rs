use std::sync::Arc;

use crate::config::Config;
use crate::ratelimit::FailureLimiter;
use crate::store::Store;
use crate::ws::Hub;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub hub: Hub,
    pub token_failures: Arc<FailureLimiter>,
    /// Origin for links, e.g. `http://127.0.0.1:8080`.
    pub public_url: Arc<str>,
}
