//! The statistics projection.
