//! Ending sign-ins reaches the sockets they opened: a mediator who signs out, changes their
//! password or is disabled must not keep hosting from a tab left open somewhere. Each socket
//! opened with a sign-in listens here and closes when its sign-in ends.

use tokio::sync::broadcast;

/// Sign-outs a socket may fall behind on before it misses one (it then closes to be safe).
const BACKLOG: usize = 256;

/// Which sign-ins of an account end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The one with this token hash (signing out).
    One(String),
    /// All but the one with this token hash (a password change, from that sign-in).
    AllBut(String),
    /// All of them (signing out everywhere, the account disabled).
    All,
}

#[derive(Debug, Clone)]
pub struct SignOut {
    pub user_id: String,
    pub ended: Ended,
}

impl SignOut {
    /// Whether the sign-in of `user_id` with `token_hash` has ended.
    pub fn ends(&self, user_id: &str, token_hash: &str) -> bool {
        self.user_id == user_id
            && match &self.ended {
                Ended::One(hash) => hash == token_hash,
                Ended::AllBut(hash) => hash != token_hash,
                Ended::All => true,
            }
    }
}

/// Where sign-outs are announced. Cheap to clone.
#[derive(Clone)]
pub struct SignOuts {
    sender: broadcast::Sender<SignOut>,
}

impl Default for SignOuts {
    fn default() -> Self {
        SignOuts {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl SignOuts {
    pub fn announce(&self, user_id: &str, ended: Ended) {
        // Nobody listening is fine: no socket was open.
        let _ = self.sender.send(SignOut {
            user_id: user_id.to_owned(),
            ended,
        });
    }

    /// Waits until the sign-in of `user_id` with `token_hash` ends. A listener that fell too far
    /// behind cannot know whether it missed its own: it answers as if it had.
    pub async fn ended(
        receiver: &mut broadcast::Receiver<SignOut>,
        user_id: &str,
        token_hash: &str,
    ) {
        loop {
            match receiver.recv().await {
                Ok(sign_out) if sign_out.ends(user_id, token_hash) => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SignOut> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_sign_ins_end() {
        let one = SignOut {
            user_id: "u".into(),
            ended: Ended::One("a".into()),
        };
        assert!(one.ends("u", "a") && !one.ends("u", "b") && !one.ends("v", "a"));
        let others = SignOut {
            user_id: "u".into(),
            ended: Ended::AllBut("a".into()),
        };
        assert!(!others.ends("u", "a") && others.ends("u", "b"));
        let all = SignOut {
            user_id: "u".into(),
            ended: Ended::All,
        };
        assert!(all.ends("u", "a") && !all.ends("v", "a"));
    }
}
