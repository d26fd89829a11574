//! `readnet principal …`: who may call the server, with which role over which scope, and their
//! tokens. A new token is printed alone on stdout (it is shown once), so that a script can keep
//! it: `readnet principal add desk-a --role desk --library JN-A > desk-a.token`.

use chrono::{DateTime, FixedOffset};
use clap::{Args, Subcommand};
use readnet_proto::v1;
use serde_json::json;
use uuid::Uuid;

use crate::cli::args::RoleArg;
use crate::cli::{ServerOpts, reported};
use crate::client;
use crate::output;

/// Principals and their tokens.
#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Add a principal; prints its token (shown this once).
    Add {
        /// Its name: lowercase letters, digits, '-', '_', '.', '@'.
        name: String,
        #[command(flatten)]
        grant: GrantArgs,
        /// When its token stops working (RFC 3339) [default: never].
        #[arg(long, value_name = "RFC3339", value_parser = DateTime::parse_from_rfc3339)]
        expires_at: Option<DateTime<FixedOffset>>,
        #[command(flatten)]
        opts: PrincipalOpts,
    },
    /// Replace a principal's role and scope.
    Change {
        name: String,
        #[command(flatten)]
        grant: GrantArgs,
        #[command(flatten)]
        opts: PrincipalOpts,
    },
    /// Revoke a principal: its token stops working at once.
    Revoke {
        name: String,
        /// Why, for the log.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        opts: PrincipalOpts,
    },
    /// Issue a principal a new token (its previous one stops working); prints the token.
    Token {
        name: String,
        /// When the token stops working (RFC 3339) [default: never].
        #[arg(long, value_name = "RFC3339", value_parser = DateTime::parse_from_rfc3339)]
        expires_at: Option<DateTime<FixedOffset>>,
        #[command(flatten)]
        opts: PrincipalOpts,
    },
    /// The principals the caller may manage.
    List {
        #[command(flatten)]
        server: ServerOpts,
    },
    /// The caller's own principal.
    Whoami {
        #[command(flatten)]
        server: ServerOpts,
    },
}

/// A role and its scope.
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The role.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// A library the principal acts for (desk: one or more; kiosk, booth: one).
    #[arg(long = "library", value_name = "CODE")]
    libraries: Vec<String>,
    /// The city of a city-admin.
    #[arg(long, value_name = "CODE")]
    city: Option<String>,
}

impl GrantArgs {
    fn grant(&self) -> v1::Grant {
        v1::Grant {
            role: v1::Role::from(self.role) as i32,
            city: self.city.clone().unwrap_or_default(),
            libraries: self.libraries.clone(),
        }
    }
}

/// The server, and the command id.
#[derive(Debug, Args)]
pub struct PrincipalOpts {
    #[command(flatten)]
    server: ServerOpts,
    /// The command's id; send the same id again to retry safely [default: a fresh UUID].
    #[arg(long, value_name = "UUID")]
    command_id: Option<Uuid>,
}

impl PrincipalOpts {
    fn command_id(&self) -> String {
        self.command_id.unwrap_or_else(Uuid::new_v4).to_string()
    }
}

/// Calls `method` of the access service with `request`, as the options' principal; a refusal is
/// printed as JSON too with `--json`.
macro_rules! access_call {
    ($server:expr, $method:ident, $request:expr) => {
        $server
            .connect()
            .await?
            .access()
            .$method($request)
            .await
            .map_err(|e| reported($server.json, e.into()))?
            .into_inner()
    };
}

/// Sends a principal command and prints the answer.
pub async fn run(command: PrincipalCommand) -> anyhow::Result<()> {
    match command {
        PrincipalCommand::Add {
            name,
            grant,
            expires_at,
            opts,
        } => {
            let request = v1::AddPrincipalRequest {
                command_id: opts.command_id(),
                principal: name.clone(),
                grant: Some(grant.grant()),
                token_expires_at: expires_at.map(client::timestamp),
                ..Default::default()
            };
            let json = opts.server.json;
            let response = access_call!(opts.server, add_principal, request);
            print_token(&name, &response.token, response.receipt.as_ref(), json)
        }
        PrincipalCommand::Token {
            name,
            expires_at,
            opts,
        } => {
            let request = v1::IssueTokenRequest {
                command_id: opts.command_id(),
                principal: name.clone(),
                expires_at: expires_at.map(client::timestamp),
                ..Default::default()
            };
            let json = opts.server.json;
            let response = access_call!(opts.server, issue_token, request);
            print_token(&name, &response.token, response.receipt.as_ref(), json)
        }
        PrincipalCommand::Change { name, grant, opts } => {
            let request = v1::ChangePrincipalRequest {
                command_id: opts.command_id(),
                principal: name,
                grant: Some(grant.grant()),
                ..Default::default()
            };
            let json = opts.server.json;
            let response = access_call!(opts.server, change_principal, request);
            print_receipt(response.receipt.as_ref(), json);
            Ok(())
        }
        PrincipalCommand::Revoke { name, reason, opts } => {
            let request = v1::RevokePrincipalRequest {
                command_id: opts.command_id(),
                principal: name,
                reason,
                ..Default::default()
            };
            let json = opts.server.json;
            let response = access_call!(opts.server, revoke_principal, request);
            print_receipt(response.receipt.as_ref(), json);
            Ok(())
        }
        PrincipalCommand::List { server } => {
            let response = access_call!(server, list_principals, v1::ListPrincipalsRequest {});
            for principal in &response.principals {
                if server.json {
                    println!("{}", principal_json(principal));
                } else {
                    println!("{}", principal_line(principal));
                }
            }
            Ok(())
        }
        PrincipalCommand::Whoami { server } => {
            let response = access_call!(server, who_am_i, v1::WhoAmIRequest {});
            let principal = response.principal.unwrap_or_default();
            if server.json {
                println!("{}", principal_json(&principal));
            } else {
                println!("{}", principal_line(&principal));
            }
            Ok(())
        }
    }
}

/// The token alone on stdout (or a JSON object); a retry that issued no token says so.
fn print_token(
    name: &str,
    token: &str,
    receipt: Option<&v1::CommandReceipt>,
    json: bool,
) -> anyhow::Result<()> {
    if token.is_empty() {
        anyhow::bail!(
            "this command id was carried out before: its token was shown then and cannot be \
             shown again; issue a new one with `readnet principal token {name}`"
        );
    }
    if json {
        let position = receipt.map_or(0, |r| r.position);
        println!(
            "{}",
            json!({ "principal": name, "token": token, "position": position })
        );
    } else {
        println!("{token}");
    }
    Ok(())
}

fn print_receipt(receipt: Option<&v1::CommandReceipt>, json: bool) {
    let Some(receipt) = receipt else { return };
    if json {
        println!("{}", output::receipt_json(receipt));
    } else {
        output::receipt_lines(receipt)
            .iter()
            .for_each(|line| println!("{line}"));
    }
}

fn principal_line(p: &v1::Principal) -> String {
    let grant = p.grant.clone().unwrap_or_default();
    let mut line = format!(
        "{} {}",
        p.principal,
        output::grant_words(grant.role(), &grant.city, &grant.libraries)
    );
    if p.revoked {
        line.push_str(" (revoked)");
    } else if !p.token_id.is_empty() {
        line.push_str(&format!(" token {}", p.token_id));
    }
    line
}

fn principal_json(p: &v1::Principal) -> serde_json::Value {
    let grant = p.grant.clone().unwrap_or_default();
    json!({
        "principal": p.principal,
        "grant": output::grant_words(grant.role(), &grant.city, &grant.libraries),
        "revoked": p.revoked,
        "token_id": p.token_id,
        "granted_by": p.granted_by,
    })
}
