//! Server-side filters of `$all` reads and subscriptions (`ReadReq.Options.filter`).

use readnet_proto::kurrentdb::streams::read_req::options::{FilterOptions, filter_options};
use readnet_store::RecordedEvent;

use super::error::EndpointError;

/// KurrentDB's search window when a filter names none (`window: count`).
const DEFAULT_WINDOW: u64 = 32;

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
    /// the `regex` crate lacks; `fancy-regex` has it and hands plain patterns to `regex`.
    Regex(Box<fancy_regex::Regex>),
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
            let regex = fancy_regex::Regex::new(&expression.regex).map_err(|error| {
                EndpointError::invalid(format!(
                    "{field}.regex: {:?} is not a valid regular expression: {error}",
                    expression.regex
                ))
            })?;
            Matcher::Regex(Box::new(regex))
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

    pub(crate) fn matches(&self, event: &RecordedEvent) -> bool {
        let text = match self.on {
            Field::StreamName => &event.stream,
            Field::EventType => &event.event_type,
        };
        match &self.matcher {
            Matcher::Prefixes(prefixes) => prefixes.iter().any(|p| text.starts_with(p.as_str())),
            // A pattern that fails at match time (backtracking limit) passes nothing.
            Matcher::Regex(regex) => regex.is_match(text).unwrap_or(false),
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
        assert!(f.matches(&event("orders-1", "x")));
        assert!(f.matches(&event("audit", "x")));
        assert!(!f.matches(&event("item-1", "x")));
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
        assert!(f.matches(&event("s", "OrderPlaced")));
        assert!(!f.matches(&event("s", "$metadata")));
        assert!(!f.matches(&event("s", "Snapshot")));
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
