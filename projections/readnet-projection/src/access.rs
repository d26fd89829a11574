//! The caller of a request, as the server's authentication layer leaves it in the request's
//! extensions, and the one check every read service makes with it.
//!
//! The layer (readnet-server) proves the credential and inserts an [`Authenticated`]; a service asks
//! [`authorize`] whether that caller may do an act on the targets the request names. The rules
//! are the domain's ([`readnet_domain::access`]): this module only carries them to the services.

use readnet_domain::access::{Act, Target, authorize_act};
use tonic::{Request, Status};

pub use readnet_domain::access::Authenticated;

/// `message` as a request from `caller`, as the authentication layer passes requests on: for
/// a service's own tests.
pub fn request_from<T>(caller: &Authenticated, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller.clone());
    request
}

/// The request's caller, if `act` on `targets` is within its rights; PERMISSION_DENIED naming
/// the principal, its role, the act and the target otherwise; UNAUTHENTICATED if the request
/// reached the service without passing authentication.
// A handler's own error type: tonic's Status, whatever its size.
#[allow(clippy::result_large_err)]
pub fn authorize<'r, T>(
    request: &'r Request<T>,
    act: Act,
    targets: &[Target],
) -> Result<&'r Authenticated, Status> {
    let caller = caller(request)?;
    authorize_act(&caller.authority, act, targets, caller.view.as_ref())
        .map_err(|rejection| Status::permission_denied(rejection.to_string()))?;
    Ok(caller)
}

/// The request's authenticated caller.
// A handler's own error type: tonic's Status, whatever its size.
#[allow(clippy::result_large_err)]
pub fn caller<T>(request: &Request<T>) -> Result<&Authenticated, Status> {
    request
        .extensions()
        .get::<Authenticated>()
        .ok_or_else(|| Status::unauthenticated("no credential: the request was not authenticated"))
}
