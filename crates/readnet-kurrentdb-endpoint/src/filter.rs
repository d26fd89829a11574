//! Server-side filters of `$all` reads and subscriptions (`ReadReq.Options.filter`).

use readnet_proto::kurrentdb::streams::read_req::options::{FilterOptions, filter_options};
use readnet_store::RecordedEvent;

use super::error::{EndpointError, quote};

/// KurrentDB's search window when a filter names none (`window: count`).
const DEFAULT_WINDOW: u64 = 32;

/// The longest regular expression a filter takes, in bytes.
pub(crate) const MAX_REGEX_BYTES: usize = 1024;
/// Backtracking steps a pattern with look-around or backreferences may take on one name or
/// type before the call fails. The Python client's exclusion pattern needs a few dozen; a
/// catastrophic pattern reaches the limit in well under a millisecond.
pub(crate) const BACKTRACK_LIMIT: usize = 10_000;
/// Compiled size and lazy-DFA cache of the linear (automaton) parts of a pattern, in bytes.
const AUTOMATON_BYTES: usize = 1024 * 1024;
/// Instructions of the backtracking program of a pattern with look-around or backreferences.
const MAX_PROGRAM_INSTRUCTIONS: usize = 10_000;

/// Which events a filtered read passes, and how often a filtered subscription reports progress.
#[derive(Debug)]
pub(crate) struct EventFilter {
    on: Field,
    matcher: Matcher,
    /// A filtered subscription sends a checkpoint after this many events scanned (matching or
    /// not): the search window × `checkpointIntervalMultiplier`, as KurrentDB does.
    pub(crate) checkpoint_interval: u64,
}

#[derive(Debug, Clone, Copy)]
enum Field {
    StreamName,
    EventType,
}

#[derive(Debug)]
enum Matcher {
    Prefixes(Vec<String>),
    /// .NET-style patterns such as the Python client's `^(?!(\$.*$))` need look-around, which
    /// the `regex` crate lacks; `fancy-regex` has it. A pattern without look-around or
    /// backreferences is handed whole to the `regex` crate's engines, which run in time linear
    /// in the text; only the rest backtracks, at most [`BACKTRACK_LIMIT`] steps per text.
    Regex {
        regex: Box<fancy_regex::Regex>,
        /// The request field the pattern came in, for errors.
        field: &'static str,
    },
}

impl EventFilter {
    pub(crate) fn new(options: FilterOptions) -> Result<Self, EndpointError> {
        let (on, expression, field) = match options.filter {
            Some(filter_options::Filter::StreamIdentifier(e)) => {
                (Field::StreamName, e, "filter.stream_identifier")
            }
            Some(filter_options::Filter::EventType(e)) => {
                (Field::EventType, e, "filter.event_type")
            }
            None => {
                return Err(EndpointError::invalid(
                    "filter: name stream_identifier or event_type, or send no_filter",
                ));
            }
        };
        let matcher = if !expression.prefix.is_empty() {
            Matcher::Prefixes(expression.prefix)
        } else {
            if expression.regex.len() > MAX_REGEX_BYTES {
                return Err(EndpointError::invalid(format!(
                    "{field}.regex: the pattern is {} bytes long; at most {MAX_REGEX_BYTES}",
                    expression.regex.len()
                )));
            }
            let regex = fancy_regex::RegexBuilder::new(&expression.regex)
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(AUTOMATON_BYTES)
                .delegate_dfa_size_limit(AUTOMATON_BYTES)
                .max_prog_size(MAX_PROGRAM_INSTRUCTIONS)
                .build()
                .map_err(|error| {
                    EndpointError::invalid(format!(
                        "{field}.regex: {} is not a usable regular expression: {error}",
                        quote(&expression.regex)
                    ))
                })?;
            Matcher::Regex {
                regex: Box::new(regex),
                field,
            }
        };
        let window = match options.window {
            Some(filter_options::Window::Max(max)) if max > 0 => u64::from(max),
            _ => DEFAULT_WINDOW,
        };
        let multiplier = u64::from(options.checkpoint_interval_multiplier.max(1));
        Ok(Self {
            on,
            matcher,
            checkpoint_interval: window.saturating_mul(multiplier),
        })
    }

    /// Whether the filter passes `event`. A pattern that reaches its backtracking limit fails
    /// the call (INVALID_ARGUMENT naming the field) rather than pass or drop events silently.
    pub(crate) fn matches(&self, event: &RecordedEvent) -> Result<bool, EndpointError> {
        let text = match self.on {
            Field::StreamName => &event.stream,
            Field::EventType => &event.event_type,
        };
        match &self.matcher {
            Matcher::Prefixes(prefixes) => {
                Ok(prefixes.iter().any(|p| text.starts_with(p.as_str())))
            }
            Matcher::Regex { regex, field } => regex.is_match(text).map_err(|error| {
                EndpointError::invalid(format!(
                    "{field}.regex: {} gave up on {} at position {} ({error}; at most \
                     {BACKTRACK_LIMIT} backtracking steps per text): avoid nested repetition \
                     around backreferences and look-around, or filter by prefix",
                    quote(regex.as_str()),
                    quote(text),
                    event.position.get()
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use readnet_store::{ContentType, Position, Revision};

    fn event(stream: &str, event_type: &str) -> RecordedEvent {
        RecordedEvent {
            stream: stream.into(),
            revision: Revision::FIRST,
            position: Position::new(1),
            event_id: uuid::Uuid::nil(),
            event_type: event_type.into(),
            content_type: ContentType::Json,
            recorded_at_us: 0,
            metadata: vec![].into(),
            data: vec![].into(),
        }
    }

    fn filter(filter: filter_options::Filter) -> EventFilter {
        EventFilter::new(FilterOptions {
            checkpoint_interval_multiplier: 5,
            filter: Some(filter),
            window: Some(filter_options::Window::Max(30)),
        })
        .unwrap()
    }

    #[test]
    fn a_stream_prefix_filter_passes_only_streams_with_that_prefix() {
        let f = filter(filter_options::Filter::StreamIdentifier(
            filter_options::Expression {
                regex: String::new(),
                prefix: vec!["orders-".into(), "audit".into()],
            },
        ));
        assert!(f.matches(&event("orders-1", "x")).unwrap());
        assert!(f.matches(&event("audit", "x")).unwrap());
        assert!(!f.matches(&event("item-1", "x")).unwrap());
        assert_eq!(f.checkpoint_interval, 150);
    }

    #[test]
    fn the_python_clients_exclusion_regex_with_lookahead_is_understood() {
        let f = filter(filter_options::Filter::EventType(
            filter_options::Expression {
                regex: r"^(?!(\$.*$|Snapshot$))".into(),
                prefix: vec![],
            },
        ));
        assert!(f.matches(&event("s", "OrderPlaced")).unwrap());
        assert!(!f.matches(&event("s", "$metadata")).unwrap());
        assert!(!f.matches(&event("s", "Snapshot")).unwrap());
    }

    #[test]
    fn a_catastrophic_backreference_pattern_fails_at_its_limit_naming_the_field() {
        let f = filter(filter_options::Filter::StreamIdentifier(
            filter_options::Expression {
                regex: r"^(a|a?)+\1$".into(),
                prefix: vec![],
            },
        ));
        let started = std::time::Instant::now();
        let error = f
            .matches(&event(&format!("{}b", "a".repeat(1000)), "x"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("filter.stream_identifier.regex: "),
            "{error}"
        );
        assert!(
            error.contains("at most 10000 backtracking steps"),
            "{error}"
        );
        // Not a benchmark: without the limit this pattern runs for minutes on this text.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn a_plain_pattern_runs_on_the_linear_engine_over_a_long_text() {
        let f = filter(filter_options::Filter::StreamIdentifier(
            filter_options::Expression {
                regex: r"^(a+)+$".into(),
                prefix: vec![],
            },
        ));
        // Catastrophic for a backtracking engine; linear for the automaton it is handed to.
        let text = format!("{}b", "a".repeat(100_000));
        assert!(!f.matches(&event(&text, "x")).unwrap());
    }

    #[test]
    fn a_pattern_over_the_length_cap_is_refused_naming_the_field() {
        let error = EventFilter::new(FilterOptions {
            checkpoint_interval_multiplier: 1,
            filter: Some(filter_options::Filter::EventType(
                filter_options::Expression {
                    regex: "a".repeat(MAX_REGEX_BYTES + 1),
                    prefix: vec![],
                },
            )),
            window: None,
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "filter.event_type.regex: the pattern is 1025 bytes long; at most 1024"
        );
    }

    #[test]
    fn an_invalid_regex_is_refused_naming_the_field() {
        let error = EventFilter::new(FilterOptions {
            checkpoint_interval_multiplier: 1,
            filter: Some(filter_options::Filter::EventType(
                filter_options::Expression {
                    regex: "(".into(),
                    prefix: vec![],
                },
            )),
            window: None,
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("filter.event_type.regex"),
            "{error}"
        );
    }
}
