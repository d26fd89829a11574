//! Title keys: which copies are "the same title", for every projection that groups by title
//! (availability's copies per title, statistics' loans per title), so that a title key read in
//! one answer names the same title in another.
//!
//! A copy with an ISBN belongs to the title `isbn:<ISBN-13>`: the ISBN is compacted (a leading
//! `ISBN` label, hyphens and white space dropped, full-width characters folded, `x` upper-cased)
//! and an ISBN-10 with a valid check digit is turned into its ISBN-13, so both printings of one
//! edition meet. A copy without an ISBN belongs to `text:["<title>","<author>"]`, both
//! normalised (full-width ASCII folded to half-width, lower-cased, control characters dropped,
//! runs of white space made one space, trimmed) and JSON-encoded so no title can imitate a
//! separator.
//!
//! Keys are part of projection states and of API answers: changing what this module returns
//! means bumping the `Projection::VERSION` of every projection that uses it.

/// The key of a copy's title.
pub fn title_key(isbn: &str, title: &str, author: &str) -> String {
    let isbn = normalise_isbn(isbn);
    if isbn.is_empty() {
        text_key(title, author)
    } else {
        isbn_key(&isbn)
    }
}

/// The key of the title an ISBN (already normalised) names.
pub fn isbn_key(normalised_isbn: &str) -> String {
    format!("isbn:{normalised_isbn}")
}

/// The key of a title and author, whatever the ISBN.
pub fn text_key(title: &str, author: &str) -> String {
    let pair = [normalise_text(title), normalise_text(author)];
    format!(
        "text:{}",
        serde_json::to_string(&pair).expect("strings serialise")
    )
}

/// An ISBN compacted, and turned into an ISBN-13 when it is a valid ISBN-10.
pub fn normalise_isbn(isbn: &str) -> String {
    let compact: String = isbn
        .chars()
        .map(fold_full_width)
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let compact = compact
        .strip_prefix("ISBN")
        .map(|rest| rest.trim_start_matches(':'))
        .unwrap_or(&compact)
        .to_owned();
    isbn13_of_isbn10(&compact).unwrap_or(compact)
}

/// Whether a normalised ISBN looks like one: digits, and an `X` only as an ISBN-10's last.
pub fn is_isbn_shaped(normalised_isbn: &str) -> bool {
    let bytes = normalised_isbn.as_bytes();
    match bytes.split_last() {
        None => false,
        Some((last, rest)) => {
            rest.iter().all(u8::is_ascii_digit)
                && (last.is_ascii_digit() || (*last == b'X' && bytes.len() == 10))
        }
    }
}

fn isbn13_of_isbn10(isbn: &str) -> Option<String> {
    let bytes = isbn.as_bytes();
    if bytes.len() != 10 || !bytes[..9].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let check = match bytes[9] {
        b'X' => 10,
        d @ b'0'..=b'9' => u32::from(d - b'0'),
        _ => return None,
    };
    let sum: u32 = bytes[..9]
        .iter()
        .zip((2..=10).rev())
        .map(|(d, weight)| u32::from(d - b'0') * weight)
        .sum::<u32>()
        + check;
    if !sum.is_multiple_of(11) {
        return None;
    }
    let body = format!("978{}", &isbn[..9]);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    Some(format!("{body}{}", (10 - sum % 10) % 10))
}

/// Full-width ASCII (U+FF01..U+FF5E) and the ideographic space, as their half-width selves:
/// Chinese input methods type either.
fn fold_full_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn normalise_text(text: &str) -> String {
    let folded: String = text
        .chars()
        .map(fold_full_width)
        .filter(|c| !c.is_control() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_isbn_10_and_its_isbn_13_name_one_title() {
        // 《三体》, Chongqing Publishing House: 7-5366-9293-5 is 978-7-5366-9293-0.
        assert_eq!(normalise_isbn("7-5366-9293-5"), "9787536692930");
        assert_eq!(normalise_isbn("ISBN 978-7-5366-9293-0"), "9787536692930");
        assert_eq!(
            title_key("７-５３６６-９２９３-５", "", ""),
            title_key("978 7 5366 9293 0", "三体", "刘慈欣")
        );
        assert_eq!(normalise_isbn("0-8044-2957-x"), "9780804429573");
        assert_eq!(
            title_key("ISBN: 978-7-5366-9293-0", "", ""),
            "isbn:9787536692930"
        );
    }

    #[test]
    fn an_isbn_10_with_a_wrong_check_digit_is_kept_as_written() {
        assert_eq!(normalise_isbn("7-5366-9293-7"), "7536692937");
    }

    #[test]
    fn titles_without_isbn_match_across_width_case_and_spacing() {
        assert_eq!(
            text_key("  Three　Body（三体）", "Liu  Cixin"),
            text_key("three body(三体)", "LIU CIXIN")
        );
        assert_eq!(title_key("", "三体", "刘慈欣"), r#"text:["三体","刘慈欣"]"#);
        assert_ne!(text_key("a\",\"b", "c"), text_key("a", "b\",\"c"));
    }

    #[test]
    fn isbn_shape_allows_x_only_as_an_isbn_10_check_digit() {
        assert!(is_isbn_shaped("9787536692930"));
        assert!(is_isbn_shaped("080442957X"));
        assert!(!is_isbn_shaped("97875366929X0"));
        assert!(!is_isbn_shaped(""));
        assert!(!is_isbn_shaped("abc"));
    }
}
