//! Identity and access on the listener: tokens (their hashes in a file beside the data
//! directory), the authentication layer in front of every service, the `AccessService`, and
//! the first administrator of a new network. The rules of who may do what are the domain's
//! (`readnet_domain::access`); see docs/adr/0009.

mod layer;
mod service;
pub mod tokens;

use std::path::Path;
use std::sync::Arc;

use readnet_domain::pb::Channel;
use readnet_domain::{
    Caller, Clock, Command, CommandContext, Grant, PatronKey, PrincipalName, Role, TokenGrant,
};
use readnet_ledger::{CommandBus, Submission};
use uuid::Uuid;

pub use layer::{AuthLayer, Authenticate, Authentication, Authenticator};
pub use service::AccessService;
use tokens::{NewToken, TokenStore};

/// The name of the network-admin a new network starts with.
pub const FIRST_ADMIN: &str = "admin";

/// On a network without principals, adds the network-admin `admin` and writes its token to
/// `token_file` (mode 0600). Returns whether it did. The token file is written first and the
/// event last, so a crash in between leaves a token that does not work yet and a network
/// without principals, which the next start sets up again.
pub async fn ensure_first_admin(
    bus: &CommandBus,
    tokens: &TokenStore,
    key: &PatronKey,
    clock: &dyn Clock,
    token_file: &Path,
) -> anyhow::Result<bool> {
    if !bus.access().borrow().principals.is_empty() {
        return Ok(false);
    }
    let name = PrincipalName::from(FIRST_ADMIN);
    let token = NewToken::generate();
    tokens::write_private(token_file, format!("{}\n", token.token).as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", token_file.display()))?;
    tokens.insert(&name, &token)?;
    let now = clock.now();
    let ctx = CommandContext {
        occurred_at: now,
        acting_library: None,
        channel: Channel::System,
        caller: Caller::Server,
    };
    let command = Command::AddPrincipal {
        principal: name.clone(),
        grant: Grant::network(Role::NetworkAdmin),
        token: TokenGrant {
            id: token.id.clone(),
            expires_at: None,
        },
    };
    let digest = readnet_ledger::digest(key, "AddPrincipal", &ctx, name.as_str().as_bytes());
    bus.submit(Submission {
        command_id: Uuid::new_v4(),
        correlation_id: None,
        digest,
        command,
        ctx,
        received_at: now,
    })
    .await?;
    tracing::info!(
        principal = FIRST_ADMIN,
        token_file = %token_file.display(),
        "new network: created network-admin {FIRST_ADMIN}; its token is in {}",
        token_file.display()
    );
    Ok(true)
}

/// Everything the listener needs for access.
#[derive(Clone)]
pub struct Access {
    pub authentication: Authentication,
    /// The token hashes the access service adds to.
    pub tokens: Arc<TokenStore>,
    /// Where a new network's first administrator's token is written (`<data>/admin.token`).
    pub first_admin_token_file: Option<std::path::PathBuf>,
}

impl Access {
    /// Tokens checked against `tokens`; a new network's first token written to
    /// `first_admin_token_file`.
    pub fn tokens(
        tokens: Arc<TokenStore>,
        first_admin_token_file: Option<std::path::PathBuf>,
    ) -> Self {
        Self {
            authentication: Authentication::Tokens(Arc::clone(&tokens)),
            tokens,
            first_admin_token_file,
        }
    }

    /// No authentication: every request acts as a network-admin (benchmarks only).
    pub fn off(tokens: Arc<TokenStore>) -> Self {
        Self {
            authentication: Authentication::Off,
            tokens,
            first_admin_token_file: None,
        }
    }
}
