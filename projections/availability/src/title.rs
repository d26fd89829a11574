//! Title keys: which copies are "the same title".
//!
//! The keys are shared with the other projections that group by title (statistics' top titles),
//! so they live in [`readnet_projection::title`]; see there for how a key is made. Every copy is
//! also indexed under its text key, so asking by title and author finds the ISBN titles
//! catalogued under that title and author too.

pub use readnet_projection::title::{
    is_isbn_shaped, isbn_key, normalise_isbn, text_key, title_key,
};
