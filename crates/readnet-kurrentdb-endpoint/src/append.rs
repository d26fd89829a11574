//! `Streams.Append` and `Streams.BatchAppend`: writes to streams readnet does not own.

use std::collections::HashMap;
use std::sync::Arc;

use readnet_domain::StreamId;
use readnet_proto::kurrentdb::google::rpc;
use readnet_proto::kurrentdb::shared::{self, Empty};
use readnet_proto::kurrentdb::streams::{
    AppendResp, BatchAppendReq, BatchAppendResp, append_req, append_resp, batch_append_req,
    batch_append_resp,
};
use readnet_store::{
    CurrentRevision, EventData, EventStore, Position, Revision, StoreError, StreamState,
};
use tokio::sync::mpsc;
use tonic::Status;

use super::MAX_APPEND_BYTES;
use super::convert::{event_data, event_size, stream_identifier};
use super::error::EndpointError;
use super::fair::WriteShare;

/// How an append ended, in KurrentDB's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Written (or an exact retry of a write): the stream's last revision and the `$all`
    /// position of the write's last event. `None`s: an empty append to a missing stream.
    Written {
        current_revision: Option<Revision>,
        position: Option<Position>,
    },
    WrongExpectedVersion {
        current: CurrentRevision,
        expected: StreamState,
    },
}

/// Refuses names a KurrentDB client must not write: ledger streams (their events must pass
/// readnet's rules, which only its commands apply) and `$` system streams.
pub(crate) fn check_writable(stream: &str) -> Result<(), EndpointError> {
    if StreamId::is_ledger_stream(stream) {
        return Err(EndpointError::LedgerStream {
            stream: stream.to_owned(),
        });
    }
    if stream.starts_with('$') {
        return Err(EndpointError::SystemStream {
            stream: stream.to_owned(),
        });
    }
    Ok(())
}

/// Adds `event` to a pending append, keeping the total under KurrentDB's maximum append size.
pub(crate) fn push_bounded(
    stream: &str,
    events: &mut Vec<EventData>,
    bytes: &mut u64,
    event: EventData,
) -> Result<(), EndpointError> {
    let total = *bytes + event_size(stream, &event);
    if total > MAX_APPEND_BYTES {
        return Err(EndpointError::AppendTooLarge {
            stream: stream.to_owned(),
        });
    }
    *bytes = total;
    events.push(event);
    Ok(())
}

/// Appends straight to the store (not through readnet's command bus: these streams have no
/// rules). A wrong expected version, or event ids that only partly match a previous write (which
/// KurrentDB also reports as a wrong expected version), is an outcome, not an error.
pub(crate) async fn write(
    store: &dyn EventStore,
    share: &Arc<WriteShare>,
    principal: &str,
    stream: &str,
    expected: StreamState,
    events: Vec<EventData>,
) -> Result<Outcome, EndpointError> {
    if events.is_empty() {
        // KurrentDB answers an empty append by checking the expectation alone.
        let current = store.stream_revision(stream).await?;
        let holds = match (expected, current) {
            (StreamState::Any, _) | (StreamState::NoStream, None) => true,
            (StreamState::StreamExists, Some(_)) => true,
            (StreamState::Revision(r), Some(c)) => r == c,
            _ => false,
        };
        return Ok(if holds {
            Outcome::Written {
                current_revision: current,
                position: None,
            }
        } else {
            Outcome::WrongExpectedVersion {
                current: current.map_or(CurrentRevision::NoStream, CurrentRevision::Current),
                expected,
            }
        });
    }
    let bytes = events.iter().map(|e| event_size(stream, e)).sum();
    let turn = share.turn(principal, bytes).await;
    let started = std::time::Instant::now();
    let appended = store.append(stream, expected, events).await;
    turn.release_after(started.elapsed());
    match appended {
        Ok(result) => Ok(Outcome::Written {
            current_revision: Some(result.next_expected_revision),
            position: Some(result.position),
        }),
        // Only a conflict on this very stream is this stream's wrong expected version; one on
        // another stream (a KurrentDB backend's journal fence) becomes ABORTED.
        Err(StoreError::WrongExpectedVersion {
            stream: conflicted,
            actual,
            ..
        }) if conflicted == stream => Ok(Outcome::WrongExpectedVersion {
            current: actual,
            expected,
        }),
        Err(StoreError::IdempotencyMismatch { .. }) => {
            let current = store.stream_revision(stream).await?;
            Ok(Outcome::WrongExpectedVersion {
                current: current.map_or(CurrentRevision::NoStream, CurrentRevision::Current),
                expected,
            })
        }
        Err(error) => Err(error.into()),
    }
}

pub(crate) fn expected_state(
    option: Option<append_req::options::ExpectedStreamRevision>,
) -> Result<StreamState, EndpointError> {
    use append_req::options::ExpectedStreamRevision as E;
    match option {
        Some(E::Revision(r)) => Ok(StreamState::Revision(Revision::new(r))),
        Some(E::NoStream(_)) => Ok(StreamState::NoStream),
        Some(E::Any(_)) => Ok(StreamState::Any),
        Some(E::StreamExists(_)) => Ok(StreamState::StreamExists),
        None => Err(EndpointError::invalid(
            "options.expected_stream_revision: send revision, no_stream, any or stream_exists",
        )),
    }
}

/// The `AppendResp` for an outcome, filling both the current and the 20.6.0 fields of a wrong
/// expected version as KurrentDB does.
pub(crate) fn append_resp(outcome: Outcome) -> AppendResp {
    use append_resp::wrong_expected_version as w;
    let result = match outcome {
        Outcome::Written {
            current_revision,
            position,
        } => append_resp::Result::Success(append_resp::Success {
            current_revision_option: Some(match current_revision {
                Some(r) => append_resp::success::CurrentRevisionOption::CurrentRevision(r.get()),
                None => append_resp::success::CurrentRevisionOption::NoStream(Empty {}),
            }),
            position_option: Some(match position {
                Some(p) => append_resp::success::PositionOption::Position(append_resp::Position {
                    commit_position: p.get(),
                    prepare_position: p.get(),
                }),
                None => append_resp::success::PositionOption::NoPosition(Empty {}),
            }),
        }),
        Outcome::WrongExpectedVersion { current, expected } => {
            append_resp::Result::WrongExpectedVersion(append_resp::WrongExpectedVersion {
                current_revision_option_20_6_0: Some(match current {
                    CurrentRevision::Current(r) => {
                        w::CurrentRevisionOption2060::CurrentRevision2060(r.get())
                    }
                    CurrentRevision::NoStream => {
                        w::CurrentRevisionOption2060::NoStream2060(Empty {})
                    }
                }),
                expected_revision_option_20_6_0: match expected {
                    StreamState::Revision(r) => {
                        Some(w::ExpectedRevisionOption2060::ExpectedRevision2060(r.get()))
                    }
                    StreamState::Any => Some(w::ExpectedRevisionOption2060::Any2060(Empty {})),
                    StreamState::StreamExists => {
                        Some(w::ExpectedRevisionOption2060::StreamExists2060(Empty {}))
                    }
                    // 20.6.0 had no arm for it.
                    StreamState::NoStream => None,
                },
                current_revision_option: Some(match current {
                    CurrentRevision::Current(r) => {
                        w::CurrentRevisionOption::CurrentRevision(r.get())
                    }
                    CurrentRevision::NoStream => {
                        w::CurrentRevisionOption::CurrentNoStream(Empty {})
                    }
                }),
                expected_revision_option: Some(match expected {
                    StreamState::Revision(r) => {
                        w::ExpectedRevisionOption::ExpectedRevision(r.get())
                    }
                    StreamState::Any => w::ExpectedRevisionOption::ExpectedAny(Empty {}),
                    StreamState::StreamExists => {
                        w::ExpectedRevisionOption::ExpectedStreamExists(Empty {})
                    }
                    StreamState::NoStream => w::ExpectedRevisionOption::ExpectedNoStream(Empty {}),
                }),
            })
        }
    };
    AppendResp {
        result: Some(result),
    }
}

/// Serves one BatchAppend call: requests carry parts of batches keyed by correlation id; a
/// batch is written when its part with `is_final` arrives, and answered on `tx`. Buffered
/// events across the call's open batches stay under the maximum append size.
pub(crate) async fn batch_append(
    store: &dyn EventStore,
    share: &Arc<WriteShare>,
    principal: &str,
    mut requests: tonic::Streaming<BatchAppendReq>,
    tx: mpsc::Sender<Result<BatchAppendResp, Status>>,
) {
    let mut open: HashMap<uuid::Uuid, Batch> = HashMap::new();
    let mut buffered_bytes = 0u64;
    loop {
        let request = match requests.message().await {
            Ok(Some(request)) => request,
            // The client finished.
            Ok(None) => return,
            // An undecodable or oversized message, or the client went away. The clients fail
            // their waiting batches only on an error status, so end with one, not with OK.
            Err(status) => {
                let _ = tx.send(Err(status)).await;
                return;
            }
        };
        let correlation_id = match super::convert::event_id(request.correlation_id.clone()) {
            Ok(id) => id,
            Err(_) => {
                let status = EndpointError::invalid(
                    "correlation_id: every BatchAppendReq needs a UUID to answer under",
                );
                let _ = tx.send(Err(status.into())).await;
                return;
            }
        };
        let outcome = open
            .entry(correlation_id)
            .or_default()
            .take(request, &mut buffered_bytes);
        if let Ok(false) = outcome {
            continue;
        }
        let Some(batch) = open.remove(&correlation_id) else {
            continue;
        };
        buffered_bytes = buffered_bytes.saturating_sub(batch.bytes);
        let events = outcome.map(|_| batch.events);
        let options = batch.options;
        let response = answer(store, share, principal, correlation_id, options, events).await;
        if tx.send(Ok(response)).await.is_err() {
            return;
        }
    }
}

#[derive(Default)]
struct Batch {
    options: Option<batch_append_req::Options>,
    events: Vec<EventData>,
    /// What the events count towards the maximum append size.
    bytes: u64,
}

impl Batch {
    /// Takes one request's part; `Ok(true)` when the batch is complete.
    fn take(
        &mut self,
        request: BatchAppendReq,
        buffered_bytes: &mut u64,
    ) -> Result<bool, EndpointError> {
        if let Some(options) = request.options {
            self.options = Some(options);
        }
        let Some(options) = &self.options else {
            return Err(EndpointError::invalid(
                "options: the first BatchAppendReq of a batch must carry its options",
            ));
        };
        let stream = super::convert::stream_name(
            options.stream_identifier.clone(),
            "options.stream_identifier",
        )?;
        check_writable(&stream)?;
        for message in request.proposed_messages {
            let event = event_data(
                message.id,
                message.metadata,
                message.custom_metadata,
                message.data,
            )?;
            let before = *buffered_bytes;
            push_bounded(&stream, &mut self.events, buffered_bytes, event)?;
            self.bytes += *buffered_bytes - before;
        }
        Ok(request.is_final)
    }
}

async fn answer(
    store: &dyn EventStore,
    share: &Arc<WriteShare>,
    principal: &str,
    correlation_id: uuid::Uuid,
    options: Option<batch_append_req::Options>,
    events: Result<Vec<EventData>, EndpointError>,
) -> BatchAppendResp {
    use batch_append_req::options::ExpectedStreamPosition as In;
    use batch_append_resp::ExpectedStreamPosition as Out;
    let identifier = options.as_ref().and_then(|o| o.stream_identifier.clone());
    let expected = options.and_then(|o| o.expected_stream_position);
    let echoed = expected.map(|e| match e {
        In::StreamPosition(r) => Out::StreamPosition(r),
        In::NoStream(()) => Out::NoStream(()),
        In::Any(()) => Out::Any(()),
        In::StreamExists(()) => Out::StreamExists(()),
    });
    let result = async {
        let events = events?;
        let stream = super::convert::stream_name(identifier.clone(), "options.stream_identifier")?;
        let expected = match expected {
            Some(In::StreamPosition(r)) => StreamState::Revision(Revision::new(r)),
            Some(In::NoStream(())) => StreamState::NoStream,
            Some(In::Any(())) | None => StreamState::Any,
            Some(In::StreamExists(())) => StreamState::StreamExists,
        };
        write(store, share, principal, &stream, expected, events).await
    }
    .await;
    let result = match result {
        Ok(Outcome::Written {
            current_revision,
            position,
        }) => batch_append_resp::Result::Success(batch_append_resp::Success {
            current_revision_option: Some(match current_revision {
                Some(r) => {
                    batch_append_resp::success::CurrentRevisionOption::CurrentRevision(r.get())
                }
                None => batch_append_resp::success::CurrentRevisionOption::NoStream(()),
            }),
            position_option: Some(match position {
                Some(p) => batch_append_resp::success::PositionOption::Position(
                    shared::AllStreamPosition {
                        commit_position: p.get(),
                        prepare_position: p.get(),
                    },
                ),
                None => batch_append_resp::success::PositionOption::NoPosition(()),
            }),
        }),
        Ok(Outcome::WrongExpectedVersion { current, expected }) => {
            use shared::wrong_expected_version::{
                CurrentStreamRevisionOption as C, ExpectedStreamPositionOption as E,
            };
            let details = shared::WrongExpectedVersion {
                current_stream_revision_option: Some(match current {
                    CurrentRevision::Current(r) => C::CurrentStreamRevision(r.get()),
                    CurrentRevision::NoStream => C::CurrentNoStream(()),
                }),
                expected_stream_position_option: Some(match expected {
                    StreamState::Revision(r) => E::ExpectedStreamPosition(r.get()),
                    StreamState::Any => E::ExpectedAny(()),
                    StreamState::StreamExists => E::ExpectedStreamExists(()),
                    StreamState::NoStream => E::ExpectedNoStream(()),
                }),
            };
            batch_append_resp::Result::Error(rpc::Status {
                code: rpc::Code::FailedPrecondition as i32,
                message: format!("wrong expected version: expected {expected}, current {current}"),
                details: Some(any("event_store.client.WrongExpectedVersion", &details)),
            })
        }
        // Carried as BadRequest so that the Python client raises it with the message.
        Err(error) => batch_append_resp::Result::Error(rpc::Status {
            code: error.code() as i32,
            message: error.to_string(),
            details: Some(any(
                "event_store.client.BadRequest",
                &shared::BadRequest {
                    message: error.to_string(),
                },
            )),
        }),
    };
    BatchAppendResp {
        correlation_id: Some(super::convert::proto_uuid(correlation_id, false)),
        result: Some(result),
        stream_identifier: identifier.or_else(|| Some(stream_identifier(""))),
        expected_stream_position: echoed,
    }
}

fn any(type_name: &str, message: &impl prost::Message) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value: message.encode_to_vec(),
    }
}
