//! The availability projection's behaviour: the fold, the queries, the properties, the service.

mod fold;
mod holds;
mod properties;
mod service;
mod shelves;
mod support;
mod where_to_get;
mod worklists;
