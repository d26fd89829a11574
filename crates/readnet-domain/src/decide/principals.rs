//! Access: adding, changing and revoking principals, and issuing their tokens. Who may give
//! these commands is checked first, by [`crate::access::authorize`]; these are the rules of the
//! grants themselves.

use super::{Decider, network_event, to_us};
use crate::access::Principal;
use crate::access::{Grant, Role, Scope, ScopeKind, TokenGrant};
use crate::ids::PrincipalName;
use crate::pb;
use crate::{NewEvent, Payload, Rejection};

/// A principal name: 1-64 lowercase ASCII letters, digits, `-`, `_`, `.`, `@` (no `:`, which
/// separates name and token in HTTP basic credentials).
pub fn valid_principal_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | '@')
        })
}

impl Decider<'_> {
    pub(super) fn add_principal(
        &self,
        name: &PrincipalName,
        grant: &Grant,
        token: &TokenGrant,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if !valid_principal_name(name.as_str()) {
            return Err(Rejection::InvalidPrincipalName {
                principal: name.to_string(),
            });
        }
        if self.network().principals.contains_key(name) {
            return Err(Rejection::PrincipalExists {
                principal: name.clone(),
            });
        }
        self.valid_grant(grant)?;
        let token = self.token_event(name, token)?;
        let (role, city, libraries) = grant.to_pb();
        Ok(vec![
            network_event(Payload::PrincipalAdded(pb::PrincipalAdded {
                principal: name.to_string(),
                role: role as i32,
                city,
                libraries,
                granted_by: self.ctx.caller.principal_name().to_owned(),
            })),
            token,
        ])
    }

    pub(super) fn change_principal(
        &self,
        name: &PrincipalName,
        grant: &Grant,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let principal = self.live_principal(name)?;
        self.valid_grant(grant)?;
        if grant.role != Role::NetworkAdmin {
            self.not_last_network_admin(principal)?;
        }
        let (role, city, libraries) = grant.to_pb();
        Ok(vec![network_event(Payload::PrincipalChanged(
            pb::PrincipalChanged {
                principal: name.to_string(),
                role: role as i32,
                city,
                libraries,
                granted_by: self.ctx.caller.principal_name().to_owned(),
            },
        ))])
    }

    pub(super) fn revoke_principal(
        &self,
        name: &PrincipalName,
        reason: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let principal = self.live_principal(name)?;
        self.not_last_network_admin(principal)?;
        Ok(vec![network_event(Payload::PrincipalRevoked(
            pb::PrincipalRevoked {
                principal: name.to_string(),
                revoked_by: self.ctx.caller.principal_name().to_owned(),
                reason: reason.to_owned(),
            },
        ))])
    }

    pub(super) fn issue_token(
        &self,
        name: &PrincipalName,
        token: &TokenGrant,
    ) -> Result<Vec<NewEvent>, Rejection> {
        self.live_principal(name)?;
        Ok(vec![self.token_event(name, token)?])
    }

    fn token_event(&self, name: &PrincipalName, token: &TokenGrant) -> Result<NewEvent, Rejection> {
        if let Some(expires_at) = token.expires_at
            && expires_at <= self.ctx.occurred_at
        {
            return Err(Rejection::TokenExpiryNotInFuture {
                expires_at,
                now: self.ctx.occurred_at,
            });
        }
        Ok(network_event(Payload::TokenIssued(pb::TokenIssued {
            principal: name.to_string(),
            token_id: token.id.to_string(),
            expires_at_us: token.expires_at.map_or(0, to_us),
            issued_by: self.ctx.caller.principal_name().to_owned(),
        })))
    }

    fn live_principal(&self, name: &PrincipalName) -> Result<&Principal, Rejection> {
        match self.network().principals.get(name) {
            None => Err(Rejection::PrincipalNotFound {
                principal: name.clone(),
            }),
            Some(p) if p.revoked => Err(Rejection::PrincipalIsRevoked {
                principal: name.clone(),
            }),
            Some(p) => Ok(p),
        }
    }

    /// Nobody may leave the network without a network-admin.
    fn not_last_network_admin(&self, principal: &Principal) -> Result<(), Rejection> {
        if principal.grant.role == Role::NetworkAdmin
            && self.network().live_principals_with(Role::NetworkAdmin) <= 1
        {
            return Err(Rejection::LastNetworkAdmin {
                principal: principal.name.clone(),
            });
        }
        Ok(())
    }

    /// A grant's scope has the role's shape and names what exists: a member city; registered
    /// libraries; a kiosk's library lends (not a booth), a booth's library is a booth.
    fn valid_grant(&self, grant: &Grant) -> Result<(), Rejection> {
        let invalid = |reason: String| Err(Rejection::InvalidGrant { reason });
        let role = grant.role;
        match (role.scope_kind(), &grant.scope) {
            (ScopeKind::Network, Scope::Network) => Ok(()),
            (ScopeKind::City, Scope::City(city)) => {
                if self.network().cities.contains_key(city) {
                    Ok(())
                } else {
                    Err(Rejection::CityNotJoined { city: city.clone() })
                }
            }
            (ScopeKind::Libraries | ScopeKind::OneLibrary, Scope::Libraries(libraries)) => {
                if libraries.is_empty() {
                    return invalid(format!("a {role} needs a library"));
                }
                if role.scope_kind() == ScopeKind::OneLibrary && libraries.len() > 1 {
                    return invalid(format!(
                        "a {role} acts for one library, not {}",
                        libraries.len()
                    ));
                }
                for code in libraries {
                    let library = self.library(code, "grant.libraries")?;
                    if role == Role::Booth && !library.is_booth() {
                        return invalid(format!("{code} is not a book-exchange booth"));
                    }
                    if role != Role::Booth && library.is_booth() {
                        return invalid(format!(
                            "{code} is a book-exchange booth: only a booth principal acts there"
                        ));
                    }
                }
                Ok(())
            }
            (ScopeKind::Network, _) => invalid(format!(
                "a {role} acts network-wide: name no city or library"
            )),
            (ScopeKind::City, _) => invalid(format!("a {role} needs a city and no libraries")),
            (ScopeKind::Libraries | ScopeKind::OneLibrary, _) => {
                invalid(format!("a {role} needs libraries and no city"))
            }
        }
    }
}
