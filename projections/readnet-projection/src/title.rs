//! Title keys: the domain's (`readnet_domain::title`), re-exported here for the projections, so
//! that a title key read in one answer names the same title in another and in a hold.

pub use readnet_domain::title::*;
