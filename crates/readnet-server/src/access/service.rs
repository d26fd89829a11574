//! `AccessService`: principals and their tokens.
//!
//! A token is made here, its hash kept in the token file *before* the event that issues it is
//! recorded (so an acknowledged token always verifies), and shown once in the answer. If the
//! event is not recorded, the hash is dropped again; a hash whose event never was is inert,
//! because the log says which token is a principal's current one.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use readnet_domain::access::{Act, Target, covers};
use readnet_domain::pb::{self, access_service_server};
use readnet_domain::{Command, PatronKey, Principal, PrincipalName, TokenGrant};
use readnet_ledger::Receipt;
use readnet_projection::access::{self, Authenticated};
use tonic::{Request, Response, Status};

use super::tokens::{NewToken, TokenStore};
use crate::convert;
use crate::edge::{self, CommandRequest};
use crate::error::ServerError;
use crate::services::Commands;

/// The access service: commands through the ledger, tokens in the token file.
#[derive(Clone)]
pub struct AccessService {
    pub commands: Commands,
    pub tokens: Arc<TokenStore>,
}

impl AccessService {
    /// Runs a command that issues `token`: the hash first, then the event; the token is shown
    /// only if this call recorded it.
    async fn with_new_token<R: CommandRequest>(
        &self,
        request: Request<R>,
        principal: &PrincipalName,
        token: NewToken,
        command: impl FnOnce(&R, &PatronKey, DateTime<Utc>) -> Result<Command, ServerError>,
    ) -> Result<(pb::CommandReceipt, String), Status> {
        let tokens = Arc::clone(&self.tokens);
        let (owner, new) = (principal.clone(), token.clone());
        blocking(move || tokens.insert(&owner, &new)).await?;
        let outcome = self.commands.submit(request, command).await;
        // A token whose event was surely not recorded (refused, or a retry of an earlier call)
        // is dropped again. One that was, or may have been (the store out of reach: the log
        // decides, and an unrecorded hash is inert), stays; so do the hashes of tokens it
        // replaced or that a revocation ended: the log refuses those, and their hashes let the
        // refusal say why.
        let not_recorded = match &outcome {
            Ok(receipt) => receipt.duplicate,
            Err(status) => status.code() != tonic::Code::Unavailable,
        };
        if not_recorded {
            let tokens = Arc::clone(&self.tokens);
            let id = token.id.clone();
            blocking(move || tokens.remove(&id)).await?;
        }
        let receipt: Receipt = outcome?;
        let shown = if receipt.duplicate {
            String::new()
        } else {
            token.token
        };
        Ok((convert::receipt(&receipt)?, shown))
    }
}

/// Runs a token-file write off the async threads (it syncs to disk).
async fn blocking(
    write: impl FnOnce() -> Result<(), super::tokens::TokenFileError> + Send + 'static,
) -> Result<(), Status> {
    tokio::task::spawn_blocking(write)
        .await
        .map_err(|e| Status::internal(format!("token file writer: {e}")))?
        .map_err(|e| {
            tracing::error!(error = %e, "cannot write the token file");
            Status::unavailable(format!("cannot keep the token: {e}"))
        })
}

fn expiry(
    at: Option<&readnet_proto::Timestamp>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, ServerError> {
    at.map(|t| edge::valid_timestamp(t, field)).transpose()
}

/// A principal as answers show it.
fn principal_message(principal: &Principal) -> pb::Principal {
    pb::Principal {
        principal: principal.name.to_string(),
        grant: Some(edge::grant_message(&principal.grant)),
        revoked: principal.revoked,
        token_id: principal
            .token
            .as_ref()
            .map(|t| t.id.to_string())
            .unwrap_or_default(),
        token_expires_at: principal
            .token
            .as_ref()
            .and_then(|t| t.expires_at)
            .map(|at| edge::to_timestamp_us(at.timestamp_micros())),
        granted_by: principal
            .granted_by
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl access_service_server::AccessService for AccessService {
    async fn add_principal(
        &self,
        request: Request<pb::AddPrincipalRequest>,
    ) -> Result<Response<pb::AddPrincipalResponse>, Status> {
        let r = request.get_ref();
        let name = edge::principal(&r.principal, "principal")?;
        let grant = edge::grant(r.grant.as_ref(), "grant")?;
        let expires_at = expiry(r.token_expires_at.as_ref(), "token_expires_at")?;
        let token = NewToken::generate();
        let id = token.id.clone();
        let principal = name.clone();
        let (receipt, token) = self
            .with_new_token(request, &name, token, move |_, _, _| {
                Ok(Command::AddPrincipal {
                    principal,
                    grant,
                    token: TokenGrant { id, expires_at },
                })
            })
            .await?;
        tracing::info!(principal = %name, "principal added");
        Ok(Response::new(pb::AddPrincipalResponse {
            receipt: Some(receipt),
            token,
        }))
    }

    async fn change_principal(
        &self,
        request: Request<pb::ChangePrincipalRequest>,
    ) -> Result<Response<pb::ChangePrincipalResponse>, Status> {
        let receipt = self
            .commands
            .submit(request, edge::ToCommand::to_command)
            .await?;
        Ok(Response::new(pb::ChangePrincipalResponse {
            receipt: Some(convert::receipt(&receipt)?),
        }))
    }

    async fn revoke_principal(
        &self,
        request: Request<pb::RevokePrincipalRequest>,
    ) -> Result<Response<pb::RevokePrincipalResponse>, Status> {
        let name = edge::principal(&request.get_ref().principal, "principal")?;
        let receipt = self
            .commands
            .submit(request, edge::ToCommand::to_command)
            .await?;
        tracing::info!(principal = %name, "principal revoked");
        Ok(Response::new(pb::RevokePrincipalResponse {
            receipt: Some(convert::receipt(&receipt)?),
        }))
    }

    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let r = request.get_ref();
        let name = edge::principal(&r.principal, "principal")?;
        let expires_at = expiry(r.expires_at.as_ref(), "expires_at")?;
        let token = NewToken::generate();
        let id = token.id.clone();
        let principal = name.clone();
        let (receipt, token) = self
            .with_new_token(request, &name, token, move |_, _, _| {
                Ok(Command::IssueToken {
                    principal,
                    token: TokenGrant { id, expires_at },
                })
            })
            .await?;
        Ok(Response::new(pb::IssueTokenResponse {
            receipt: Some(receipt),
            token,
        }))
    }

    async fn list_principals(
        &self,
        request: Request<pb::ListPrincipalsRequest>,
    ) -> Result<Response<pb::ListPrincipalsResponse>, Status> {
        let Authenticated { authority, view } =
            access::authorize(&request, Act::ListPrincipals, &[])?;
        let principals = view
            .principals
            .values()
            .filter(|p| {
                let target = Target::Grant(p.name.clone(), p.grant.clone());
                covers(&authority.grant.scope, &target, view.as_ref())
            })
            .map(principal_message)
            .collect();
        Ok(Response::new(pb::ListPrincipalsResponse { principals }))
    }

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let Authenticated { authority, view } = access::caller(&request)?;
        let principal = view
            .principals
            .get(&authority.principal)
            .map(principal_message)
            .unwrap_or_else(|| pb::Principal {
                principal: authority.principal.to_string(),
                grant: Some(edge::grant_message(&authority.grant)),
                ..Default::default()
            });
        Ok(Response::new(pb::WhoAmIResponse {
            principal: Some(principal),
        }))
    }
}
