//! The availability projection.
