//! What the binary prints: one human line per event, or JSON built by hand (prost 0.13 messages
//! do not derive serde, and hand-built JSON lets us print enums as the domain's words).

use chrono::{DateTime, Local, Utc};
use readnet_proto::Timestamp;
use readnet_proto::v1;
use readnet_proto::v1::{
    CommandReceipt, Event, ItemState, ItemStatus, RecordedEvent, event::Payload,
};
use serde_json::{Value, json};
use tonic::Status;

/// The canonical gRPC name of a status code, as scripts and logs spell it.
pub use readnet_server::measure::code_name;

/// `CODE: message`, the human form of a refusal.
pub fn status_line(status: &Status) -> String {
    format!(
        "{}: {}",
        code_name(status.code()),
        in_flags(status.message())
    )
}

/// A server message in the command line's words: the request metadata the server names is
/// what a flag sets (`x-readnet-library` is `--library`, `x-readnet-channel` is `--channel`).
pub fn in_flags(message: &str) -> String {
    match message.split_once(':') {
        Some(("x-readnet-library", rest)) => {
            format!("--library is missing or wrong (the acting library):{rest}")
        }
        Some(("x-readnet-channel", rest)) => format!("--channel:{rest}"),
        _ => message.to_owned(),
    }
}

/// The JSON form of a refusal.
/// The protobuf descriptors of readnet's messages, decoded once.
fn descriptors() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        prost_reflect::DescriptorPool::decode(readnet_proto::FILE_DESCRIPTOR_SET)
            .expect("readnet-proto embeds a valid descriptor set")
    })
}

/// `message` (of the protobuf type `name`) as protobuf's JSON mapping: field names as in the
/// `.proto` files, enums by name, 64-bit numbers as numbers, every field present.
pub fn proto_json<M: prost::Message>(name: &str, message: &M) -> anyhow::Result<Value> {
    let descriptor = descriptors()
        .get_message_by_name(name)
        .ok_or_else(|| anyhow::anyhow!("no protobuf message {name}"))?;
    let dynamic =
        prost_reflect::DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    let options = prost_reflect::SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(false);
    Ok(dynamic.serialize_with_options(serde_json::value::Serializer, &options)?)
}

/// A message from its JSON form as [`proto_json`] writes it (protobuf's JSON mapping, which
/// also reads camelCase names and 64-bit integers as strings).
pub fn proto_from_json<M: prost::Message + Default>(name: &str, json: &str) -> anyhow::Result<M> {
    let descriptor = descriptors()
        .get_message_by_name(name)
        .ok_or_else(|| anyhow::anyhow!("no protobuf message {name}"))?;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let dynamic = prost_reflect::DynamicMessage::deserialize(descriptor, &mut deserializer)?;
    deserializer.end()?;
    Ok(M::decode(
        prost::Message::encode_to_vec(&dynamic).as_slice(),
    )?)
}

/// A JSON answer as text: its scalar fields as `name: value` lines, each nested message's
/// fields prefixed with its name, and each list of messages as a table (a header line, then one
/// line per entry, columns aligned).
pub fn text_lines(value: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    text_into(value, "", &mut lines);
    lines
}

fn text_into(value: &Value, prefix: &str, lines: &mut Vec<String>) {
    let Value::Object(fields) = value else {
        lines.push(format!("{prefix}: {}", scalar(value)));
        return;
    };
    for (name, field) in fields {
        let name = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match field {
            Value::Object(_) => text_into(field, &name, lines),
            Value::Array(items) if items.iter().any(Value::is_object) => {
                lines.push(format!("{name} ({}):", items.len()));
                lines.extend(table(items).into_iter().map(|line| format!("  {line}")));
            }
            Value::Array(items) => lines.push(format!(
                "{name}: {}",
                items.iter().map(scalar).collect::<Vec<_>>().join(", ")
            )),
            other => lines.push(format!("{name}: {}", scalar(other))),
        }
    }
}

/// Entries as aligned columns: one per field (nested fields flattened as `a.b`).
fn table(items: &[Value]) -> Vec<String> {
    let rows: Vec<Vec<(String, String)>> = items
        .iter()
        .map(|item| {
            let mut cells = Vec::new();
            flatten(item, "", &mut cells);
            cells
        })
        .collect();
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for (name, _) in row {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    let cell = |row: &[(String, String)], column: &str| {
        row.iter()
            .find(|(name, _)| name == column)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|column| {
            rows.iter()
                .map(|row| cell(row, column).chars().count())
                .chain(std::iter::once(column.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(text, width)| {
                let pad = width.saturating_sub(text.chars().count());
                format!("{text}{}", " ".repeat(pad))
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut lines = vec![line(columns.clone())];
    for row in &rows {
        lines.push(line(columns.iter().map(|c| cell(row, c)).collect()));
    }
    lines
}

fn flatten(value: &Value, prefix: &str, into: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let name = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(field, &name, into);
            }
        }
        Value::Array(items) => into.push((prefix.to_owned(), format!("[{} entries]", items.len()))),
        other => into.push((prefix.to_owned(), scalar(other))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

pub fn status_json(status: &Status) -> Value {
    json!({ "error": { "code": code_name(status.code()), "message": status.message() } })
}

/// Strips a protobuf enum value name to the domain's word: `LIBRARY_TIER_SELF_SERVICE` with
/// prefix `LIBRARY_TIER_` is `self_service`.
fn word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// A patron id shortened for a human line; ids are hashes, so a prefix tells them apart.
fn patron(id: &str) -> String {
    match id.char_indices().nth(8) {
        Some((end, _)) => format!("{}…", &id[..end]),
        None => id.to_owned(),
    }
}

/// A due time (microseconds since the epoch) as a date on this machine's calendar.
pub fn local_date_us(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|at| at.with_timezone(&Local).format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("{us}us"))
}

/// A moment (microseconds since the epoch) on this machine's clock, with its offset: a tariff's
/// start is an instant, and a bare date would hide which midnight it means.
fn local_time_us(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|at| {
            at.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S %:z")
                .to_string()
        })
        .unwrap_or_else(|| format!("{us}us"))
}

fn timestamp_value(at: Option<&Timestamp>) -> Value {
    at.and_then(|at| DateTime::<Utc>::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?))
        .map(|at| Value::String(at.to_rfc3339()))
        .unwrap_or(Value::Null)
}

fn price(price_fen: Option<i64>) -> String {
    price_fen.map_or_else(|| "price unknown".to_owned(), |fen| format!("{fen} fen"))
}

/// The payload's key facts, in a few words.
pub fn facts(event: &Event) -> String {
    let Some(payload) = &event.payload else {
        return "(no payload)".to_owned();
    };
    match payload {
        Payload::CityJoined(e) => format!("{} {} ({})", e.city, e.name, e.time_zone),
        Payload::LibraryRegistered(e) => {
            let parent = if e.parent.is_empty() {
                String::new()
            } else {
                format!(", under {}", e.parent)
            };
            let tier = word(e.tier().as_str_name(), "LIBRARY_TIER_");
            format!("{} {} in {}, {tier}{parent}", e.library, e.name, e.city)
        }
        Payload::LibraryClosed(e) => format!("{}: {}", e.library, e.reason),
        Payload::ReturnPolicySet(e) => {
            format!(
                "{}'s items: {}",
                e.library,
                word(e.policy().as_str_name(), "RETURN_POLICY_")
            )
        }
        Payload::TariffSet(e) => format!(
            "{} {} fen from {}",
            word(e.kind().as_str_name(), "CHARGE_KIND_"),
            e.amount_fen,
            local_time_us(e.effective_from_us)
        ),
        Payload::PatronEnrolled(e) => format!(
            "patron {} of {}, {}",
            patron(&e.patron_id),
            e.home_city,
            word(e.tier().as_str_name(), "CREDIT_TIER_")
        ),
        Payload::PatronForgotten(e) => format!(
            "a patron of {} forgotten ({})",
            e.city,
            word(e.reason().as_str_name(), "FORGET_REASON_")
        ),
        Payload::PatronTierChanged(e) => {
            format!(
                "patron {} now {}",
                patron(&e.patron_id),
                word(e.tier().as_str_name(), "CREDIT_TIER_")
            )
        }
        Payload::ItemCatalogued(e) => format!(
            "{} 《{}》 {}, owner {}, {}, {}, placed at {}",
            e.item,
            e.title,
            e.author,
            e.owner_library,
            price(e.price_fen),
            word(e.acquisition().as_str_name(), "ACQUISITION_"),
            e.placed_at
        ),
        Payload::ItemLoaned(e) => format!(
            "{} to patron {} at {}, due {}",
            e.item,
            patron(&e.patron_id),
            e.library,
            local_date_us(e.due_at_us)
        ),
        Payload::ItemRenewed(e) => {
            format!(
                "{} renewal {}, due {}",
                e.item,
                e.renewal_count,
                local_date_us(e.due_at_us)
            )
        }
        Payload::ItemReturned(e) => {
            let homebound = if e.homebound {
                format!(", homebound to {}", e.owner_library)
            } else {
                String::new()
            };
            let was_lost = if e.was_lost {
                ", had been declared lost"
            } else {
                ""
            };
            format!("{} at {}{homebound}{was_lost}", e.item, e.library)
        }
        Payload::TransferDispatched(e) => {
            let hold = if e.hold == 0 {
                String::new()
            } else {
                format!(" {}", e.hold)
            };
            format!(
                "{} {} → {} ({}{hold})",
                e.item,
                e.from_library,
                e.to_library,
                word(e.reason().as_str_name(), "TRANSFER_REASON_")
            )
        }
        Payload::TransferReceived(e) => {
            let booth = if e.in_booth { ", in the booth" } else { "" };
            let homebound = if e.homebound { ", homebound" } else { "" };
            format!(
                "{} at {} from {}{booth}{homebound}",
                e.item, e.to_library, e.from_library
            )
        }
        Payload::BoothSwapped(e) => format!(
            "at {}: patron {} took {}, left {}",
            e.booth,
            patron(&e.patron_id),
            e.item_taken,
            e.item_deposited
        ),
        Payload::ItemDeclaredLost(e) => {
            format!(
                "{} lost by patron {}, owes {} fen",
                e.item,
                patron(&e.patron_id),
                e.debt_fen
            )
        }
        Payload::LostItemPaid(e) => format!(
            "{}: patron {} paid {} fen",
            e.item,
            patron(&e.patron_id),
            e.amount_fen
        ),
        Payload::LostItemDebtWaived(e) => {
            format!(
                "{}: debt of patron {} waived: {}",
                e.item,
                patron(&e.patron_id),
                e.reason
            )
        }
        Payload::ItemWithdrawn(e) => format!("{}: {}", e.item, e.reason),
        Payload::LibraryMoved(e) => {
            let to = |p: &str| {
                if p.is_empty() {
                    "no parent".to_owned()
                } else {
                    p.to_owned()
                }
            };
            format!(
                "{}: under {} (was {})",
                e.library,
                to(&e.parent),
                to(&e.previous_parent)
            )
        }
        Payload::LibraryRenamed(e) => format!("{}: {}", e.library, e.name),
        Payload::LibraryTierChanged(e) => {
            format!(
                "{}: {}",
                e.library,
                word(e.tier().as_str_name(), "LIBRARY_TIER_")
            )
        }
        Payload::CalendarSet(e) => {
            let whose = if e.library.is_empty() {
                format!("{} (city default)", e.city)
            } else {
                e.library.clone()
            };
            let closed_weekdays = e
                .week
                .iter()
                .filter(|h| h.open_minute >= h.close_minute)
                .count();
            format!(
                "{whose}: {closed_weekdays} closed weekday(s), {} closed date(s)",
                e.closed_dates.len()
            )
        }
        Payload::LibraryClosedTemporarily(e) => format!(
            "{}: closed through {} ({})",
            e.library,
            local_date_us(e.until_us),
            e.reason
        ),
        Payload::LibraryReopened(e) => format!("{}: open again", e.library),
        Payload::AcquisitionBudgetSet(e) => format!(
            "{}: acquisition budget {} {} fen, patron-driven share {} bp",
            e.library, e.year, e.budget_fen, e.patron_driven_share_bp
        ),
        Payload::AcquisitionPolicySet(e) => format!(
            "{}: patron-driven books at most {} fen, {} per reader a month",
            e.library, e.max_item_price_fen, e.monthly_quota_per_reader
        ),
        Payload::BookstorePartnerRegistered(e) => {
            format!(
                "{}: partner bookstore {} ({})",
                e.library, e.bookstore, e.name
            )
        }
        Payload::PatronDrivenPurchaseRecorded(e) => format!(
            "{}: bought for patron {} at {} for {} fen, {} budget ({})",
            e.item,
            e.patron_id,
            if e.bookstore.is_empty() {
                "-"
            } else {
                e.bookstore.as_str()
            },
            e.price_fen,
            e.library,
            e.month
        ),
        Payload::EResourceLicensed(e) => format!(
            "e-resource {} 《{}》 ({}), {}{}, {} licence(s), {} day loans",
            e.resource,
            e.title,
            word(e.kind().as_str_name(), "E_RESOURCE_KIND_"),
            if e.owner_library.is_empty() {
                "the network's"
            } else {
                e.owner_library.as_str()
            },
            if e.shared { ", shared" } else { "" },
            e.licences,
            e.loan_days
        ),
        Payload::DigitalLoaned(e) => format!(
            "e-resource {} lent to patron {} through {} until {}",
            e.resource,
            e.patron_id,
            e.library,
            local_date_us(e.expires_at_us)
        ),
        Payload::DigitalLoanEnded(e) => format!(
            "e-resource {} back from patron {} ({})",
            e.resource,
            e.patron_id,
            word(e.reason().as_str_name(), "DIGITAL_LOAN_END_REASON_")
        ),
        Payload::LoanExtended(e) => format!(
            "{}: due {} instead of {} ({} closed)",
            e.item,
            local_date_us(e.due_at_us),
            local_date_us(e.previous_due_at_us),
            e.library
        ),
        Payload::LibraryRolesSet(e) => format!(
            "{}: delivery point {}, distribution centre {}",
            e.library,
            yes_no(e.delivery_point),
            yes_no(e.distribution_centre)
        ),
        Payload::HoldPlaced(e) => {
            let wanted = if e.item.is_empty() {
                format!("《{}》 {} {}", e.title, e.author, e.isbn)
            } else {
                e.item.clone()
            };
            format!(
                "hold {} by patron {} on {}, pickup at {}, expires {}",
                e.hold,
                patron(&e.patron_id),
                wanted.trim(),
                e.pickup_library,
                local_date_us(e.expires_at_us)
            )
        }
        Payload::HoldAssigned(e) => format!(
            "{} at {} {} hold {} (pickup at {})",
            e.item,
            e.library,
            if e.trapped {
                "trapped for"
            } else {
                "to pull for"
            },
            e.hold,
            e.pickup_library
        ),
        Payload::HoldReady(e) => format!(
            "{} ready for hold {} at {}, pick up by {}",
            e.item,
            e.hold,
            e.pickup_library,
            local_date_us(e.pickup_by_us)
        ),
        Payload::HoldFilled(e) => format!("{} fills hold {}", e.item, e.hold),
        Payload::HoldReleased(e) => {
            let then = if e.requeued {
                ", the hold waits again"
            } else if e.homebound {
                ", homebound"
            } else {
                ""
            };
            format!("{} released from hold {}{then}", e.item, e.hold)
        }
        Payload::HoldEnded(e) => format!(
            "hold {} of patron {} ended: {}",
            e.hold,
            patron(&e.patron_id),
            word(e.reason().as_str_name(), "HOLD_END_REASON_")
        ),
        Payload::ClockTicked(e) => format!("the clock ticked: {}", local_time_us(e.at_us)),
        Payload::FootfallReported(e) => format!(
            "{} gate {}: {} visits from {} to {}",
            e.library,
            e.gate,
            e.visits,
            local_time_us(e.from_us),
            local_time_us(e.to_us)
        ),
        Payload::NoticesAcknowledged(e) => format!(
            "gateway {} took the notices through {}",
            e.gateway, e.through_sequence
        ),
        Payload::SettlementPeriodClosed(e) => {
            format!(
                "period {} closed through position {}",
                e.period, e.through_position
            )
        }
        Payload::PrincipalAdded(e) => format!(
            "principal {} added: {} by {}",
            e.principal,
            grant_words(e.role(), &e.city, &e.libraries),
            by(&e.granted_by)
        ),
        Payload::PrincipalChanged(e) => format!(
            "principal {} changed: {} by {}",
            e.principal,
            grant_words(e.role(), &e.city, &e.libraries),
            by(&e.granted_by)
        ),
        Payload::PrincipalRevoked(e) => format!(
            "principal {} revoked by {}: {}",
            e.principal,
            by(&e.revoked_by),
            e.reason
        ),
        Payload::TokenIssued(e) => format!(
            "token {} issued to {} by {}{}",
            e.token_id,
            e.principal,
            by(&e.issued_by),
            if e.expires_at_us == 0 {
                String::new()
            } else {
                format!(", expires at {} us", e.expires_at_us)
            }
        ),
        Payload::CommandRefused(e) => format!(
            "{} refused ({}, {}): {}",
            e.command,
            e.rule,
            word(e.kind().as_str_name(), "REFUSAL_KIND_"),
            e.message
        ),
    }
}

/// A role's name in the contract (`network-admin`).
fn role_word(role: readnet_proto::v1::Role) -> String {
    word(role.as_str_name(), "ROLE_").replace('_', "-")
}

/// Who granted something: a principal, or the server itself.
fn by(principal: &str) -> &str {
    if principal.is_empty() {
        "the server"
    } else {
        principal
    }
}

/// A grant in words: `desk of JN-CENTRAL, JN-LIXIA-03`, `city-admin of jinan`, `auditor`.
pub fn grant_words(role: readnet_proto::v1::Role, city: &str, libraries: &[String]) -> String {
    let role = role_word(role);
    match (city.is_empty(), libraries.is_empty()) {
        (false, _) => format!("{role} of {city}"),
        (true, false) => format!("{role} of {}", libraries.join(", ")),
        (true, true) => role,
    }
}

/// One recorded event on one line: position, stream@revision, type, key facts.
pub fn event_line(recorded: &RecordedEvent) -> String {
    let facts = recorded
        .event
        .as_ref()
        .map(facts)
        .unwrap_or_else(|| "(no payload)".to_owned());
    format!(
        "#{} {}@{} {} {}",
        recorded.position, recorded.stream, recorded.revision, recorded.event_type, facts
    )
}

/// A receipt as human lines: a note for a retry, then one line per event.
pub fn receipt_lines(receipt: &CommandReceipt) -> Vec<String> {
    let mut lines = Vec::with_capacity(receipt.events.len() + 1);
    if receipt.duplicate {
        lines.push(format!(
            "command {} was already done: nothing new written (position {})",
            receipt.command_id, receipt.position
        ));
    }
    if receipt.events.is_empty() {
        lines.push(format!("no events (position {})", receipt.position));
    }
    lines.extend(receipt.events.iter().map(event_line));
    lines
}

/// An item's state in one line.
pub fn item_line(item: &ItemState) -> String {
    let place = match item.status() {
        ItemStatus::OnShelf if item.homebound => {
            format!(
                "on shelf at {}, homebound to {}",
                item.library, item.owner_library
            )
        }
        ItemStatus::OnShelf => format!("on shelf at {}", item.library),
        ItemStatus::OnLoan => format!(
            "on loan to patron {} from {}, due {}, renewed {} times",
            patron(&item.patron_id),
            item.library,
            item.due_at
                .as_ref()
                .map_or_else(|| "unknown".to_owned(), |at| local_date_us(micros(at))),
            item.renewal_count
        ),
        ItemStatus::InTransit => format!(
            "in transit {} → {} ({})",
            item.from_library,
            item.library,
            word(item.transfer_reason().as_str_name(), "TRANSFER_REASON_")
        ),
        ItemStatus::InBooth => format!("in booth {}", item.library),
        ItemStatus::Lost => format!(
            "lost by patron {}, {} fen owed",
            patron(&item.patron_id),
            item.debt_fen
        ),
        ItemStatus::Withdrawn => "withdrawn".to_owned(),
        ItemStatus::ExchangedOut => "exchanged out of the network at a booth".to_owned(),
        ItemStatus::Unspecified => "status unknown".to_owned(),
    };
    format!(
        "{} 《{}》 {} (owner {}, {}): {place}; revision {}, position {}",
        item.item,
        item.title,
        item.author,
        item.owner_library,
        price(item.price_fen),
        item.revision,
        item.position
    )
}

fn micros(at: &Timestamp) -> i64 {
    at.seconds * 1_000_000 + i64::from(at.nanos) / 1_000
}

/// The JSON form of an event payload: the proto's fields, enums as the domain's words.
pub fn payload_json(event: &Event) -> Value {
    let Some(payload) = &event.payload else {
        return Value::Null;
    };
    match payload {
        Payload::CityJoined(e) => {
            json!({ "city": e.city, "name": e.name, "time_zone": e.time_zone })
        }
        Payload::LibraryRegistered(e) => json!({
            "library": e.library, "name": e.name, "city": e.city,
            "tier": word(e.tier().as_str_name(), "LIBRARY_TIER_"), "parent": e.parent,
        }),
        Payload::LibraryClosed(e) => json!({ "library": e.library, "reason": e.reason }),
        Payload::ReturnPolicySet(e) => json!({
            "library": e.library, "policy": word(e.policy().as_str_name(), "RETURN_POLICY_"),
        }),
        Payload::TariffSet(e) => json!({
            "kind": word(e.kind().as_str_name(), "CHARGE_KIND_"), "amount_fen": e.amount_fen,
            "effective_from_us": e.effective_from_us,
        }),
        Payload::PatronEnrolled(e) => json!({
            "patron_id": e.patron_id, "home_city": e.home_city,
            "tier": word(e.tier().as_str_name(), "CREDIT_TIER_"),
        }),
        Payload::PatronTierChanged(e) => json!({
            "patron_id": e.patron_id, "tier": word(e.tier().as_str_name(), "CREDIT_TIER_"),
        }),
        Payload::PatronForgotten(e) => json!({
            "patron_id": e.patron_id, "city": e.city,
            "reason": word(e.reason().as_str_name(), "FORGET_REASON_"),
        }),
        Payload::ItemCatalogued(e) => json!({
            "item": e.item, "isbn": e.isbn, "title": e.title, "author": e.author,
            "owner_library": e.owner_library, "price_fen": e.price_fen,
            "acquisition": word(e.acquisition().as_str_name(), "ACQUISITION_"), "placed_at": e.placed_at,
        }),
        Payload::ItemLoaned(e) => json!({
            "item": e.item, "patron_id": e.patron_id, "library": e.library, "due_at_us": e.due_at_us,
            "patron_home_city": e.patron_home_city, "owner_library": e.owner_library,
        }),
        Payload::ItemRenewed(e) => json!({
            "item": e.item, "patron_id": e.patron_id, "due_at_us": e.due_at_us,
            "renewal_count": e.renewal_count,
        }),
        Payload::ItemReturned(e) => json!({
            "item": e.item, "patron_id": e.patron_id, "library": e.library,
            "owner_library": e.owner_library, "homebound": e.homebound, "was_lost": e.was_lost,
        }),
        Payload::TransferDispatched(e) => json!({
            "item": e.item, "from_library": e.from_library, "to_library": e.to_library,
            "reason": word(e.reason().as_str_name(), "TRANSFER_REASON_"), "owner_library": e.owner_library,
            "hold": e.hold,
        }),
        Payload::TransferReceived(e) => json!({
            "item": e.item, "from_library": e.from_library, "to_library": e.to_library,
            "in_booth": e.in_booth, "homebound": e.homebound,
        }),
        Payload::BoothSwapped(e) => json!({
            "booth": e.booth, "patron_id": e.patron_id, "item_taken": e.item_taken,
            "item_deposited": e.item_deposited,
        }),
        Payload::ItemDeclaredLost(e) => json!({
            "item": e.item, "patron_id": e.patron_id, "owner_library": e.owner_library,
            "patron_home_city": e.patron_home_city, "debt_fen": e.debt_fen,
        }),
        Payload::LostItemPaid(e) => {
            json!({ "item": e.item, "patron_id": e.patron_id, "amount_fen": e.amount_fen })
        }
        Payload::LostItemDebtWaived(e) => {
            json!({ "item": e.item, "patron_id": e.patron_id, "reason": e.reason })
        }
        Payload::ItemWithdrawn(e) => json!({ "item": e.item, "reason": e.reason }),
        Payload::LibraryMoved(e) => json!({
            "library": e.library, "parent": e.parent, "previous_parent": e.previous_parent,
        }),
        Payload::LibraryRenamed(e) => json!({ "library": e.library, "name": e.name }),
        Payload::LibraryTierChanged(e) => json!({
            "library": e.library, "tier": word(e.tier().as_str_name(), "LIBRARY_TIER_"),
        }),
        Payload::CalendarSet(e) => json!({
            "city": e.city, "library": e.library,
            "week": e.week.iter().map(|h| json!([h.open_minute, h.close_minute])).collect::<Vec<_>>(),
            "closed_dates": e.closed_dates,
        }),
        Payload::LibraryClosedTemporarily(e) => json!({
            "library": e.library, "reason": e.reason, "from_us": e.from_us, "until_us": e.until_us,
        }),
        Payload::LibraryReopened(e) => json!({ "library": e.library, "at_us": e.at_us }),
        Payload::AcquisitionBudgetSet(e) => json!({
            "library": e.library, "year": e.year, "budget_fen": e.budget_fen,
            "patron_driven_share_bp": e.patron_driven_share_bp,
        }),
        Payload::AcquisitionPolicySet(e) => json!({
            "library": e.library, "max_item_price_fen": e.max_item_price_fen,
            "monthly_quota_per_reader": e.monthly_quota_per_reader,
        }),
        Payload::BookstorePartnerRegistered(e) => json!({
            "library": e.library, "bookstore": e.bookstore, "name": e.name,
        }),
        Payload::PatronDrivenPurchaseRecorded(e) => json!({
            "item": e.item, "library": e.library, "bookstore": e.bookstore,
            "patron_id": e.patron_id, "price_fen": e.price_fen, "budget_year": e.budget_year,
            "month": e.month,
        }),
        Payload::EResourceLicensed(e) => json!({
            "resource": e.resource, "title": e.title,
            "kind": word(e.kind().as_str_name(), "E_RESOURCE_KIND_"),
            "owner_library": e.owner_library, "shared": e.shared, "licences": e.licences,
            "loan_days": e.loan_days,
        }),
        Payload::DigitalLoaned(e) => json!({
            "resource": e.resource, "patron_id": e.patron_id,
            "patron_home_city": e.patron_home_city, "owner_library": e.owner_library,
            "library": e.library, "expires_at_us": e.expires_at_us,
        }),
        Payload::DigitalLoanEnded(e) => json!({
            "resource": e.resource, "patron_id": e.patron_id,
            "reason": word(e.reason().as_str_name(), "DIGITAL_LOAN_END_REASON_"), "at_us": e.at_us,
        }),
        Payload::LoanExtended(e) => json!({
            "item": e.item, "patron_id": e.patron_id, "library": e.library,
            "previous_due_at_us": e.previous_due_at_us, "due_at_us": e.due_at_us,
        }),
        Payload::LibraryRolesSet(e) => json!({
            "library": e.library, "delivery_point": e.delivery_point,
            "distribution_centre": e.distribution_centre,
        }),
        Payload::HoldPlaced(e) => json!({
            "hold": e.hold, "patron_id": e.patron_id, "patron_home_city": e.patron_home_city,
            "title_key": e.title_key, "isbn": e.isbn, "title": e.title, "author": e.author,
            "item": e.item, "pickup_library": e.pickup_library, "expires_at_us": e.expires_at_us,
        }),
        Payload::HoldAssigned(e) => json!({
            "hold": e.hold, "item": e.item, "patron_id": e.patron_id, "library": e.library,
            "pickup_library": e.pickup_library, "trapped": e.trapped,
        }),
        Payload::HoldReady(e) => json!({
            "hold": e.hold, "item": e.item, "patron_id": e.patron_id,
            "pickup_library": e.pickup_library, "pickup_by_us": e.pickup_by_us,
        }),
        Payload::HoldFilled(e) => {
            json!({ "hold": e.hold, "item": e.item, "patron_id": e.patron_id })
        }
        Payload::HoldReleased(e) => json!({
            "hold": e.hold, "item": e.item, "patron_id": e.patron_id,
            "requeued": e.requeued, "homebound": e.homebound,
        }),
        Payload::HoldEnded(e) => json!({
            "hold": e.hold, "patron_id": e.patron_id,
            "reason": word(e.reason().as_str_name(), "HOLD_END_REASON_"), "note": e.note,
        }),
        Payload::ClockTicked(e) => json!({ "at_us": e.at_us }),
        Payload::FootfallReported(e) => json!({
            "library": e.library, "gate": e.gate, "from_us": e.from_us, "to_us": e.to_us,
            "visits": e.visits,
        }),
        Payload::NoticesAcknowledged(e) => json!({
            "gateway": e.gateway, "through_sequence": e.through_sequence,
        }),
        Payload::SettlementPeriodClosed(e) => {
            json!({ "period": e.period, "through_position": e.through_position })
        }
        Payload::PrincipalAdded(e) => json!({
            "principal": e.principal, "role": role_word(e.role()),
            "city": e.city, "libraries": e.libraries, "granted_by": e.granted_by,
        }),
        Payload::PrincipalChanged(e) => json!({
            "principal": e.principal, "role": role_word(e.role()),
            "city": e.city, "libraries": e.libraries, "granted_by": e.granted_by,
        }),
        Payload::PrincipalRevoked(e) => json!({
            "principal": e.principal, "revoked_by": e.revoked_by, "reason": e.reason,
        }),
        Payload::TokenIssued(e) => json!({
            "principal": e.principal, "token_id": e.token_id,
            "expires_at_us": e.expires_at_us, "issued_by": e.issued_by,
        }),
        Payload::CommandRefused(e) => json!({
            "command": e.command, "rule": e.rule,
            "kind": word(e.kind().as_str_name(), "REFUSAL_KIND_"), "message": e.message,
        }),
    }
}

/// The JSON form of a recorded event: its envelope and its payload under `data`.
pub fn event_json(recorded: &RecordedEvent) -> Value {
    json!({
        "event_id": recorded.event_id,
        "event_type": recorded.event_type,
        "stream": recorded.stream,
        "revision": recorded.revision,
        "position": recorded.position,
        "occurred_at": timestamp_value(recorded.occurred_at.as_ref()),
        "recorded_at": timestamp_value(recorded.recorded_at.as_ref()),
        "acting_library": recorded.acting_library,
        "channel": word(recorded.channel().as_str_name(), "CHANNEL_"),
        "command_id": recorded.command_id,
        "correlation_id": recorded.correlation_id,
        "principal": recorded.principal,
        "data": recorded.event.as_ref().map_or(Value::Null, payload_json),
    })
}

/// The JSON form of a command receipt.
pub fn receipt_json(receipt: &CommandReceipt) -> Value {
    json!({
        "command_id": receipt.command_id,
        "duplicate": receipt.duplicate,
        "position": receipt.position,
        "events": receipt.events.iter().map(event_json).collect::<Vec<_>>(),
    })
}

/// The JSON form of a stream or `$all` read: its events and the head position it was served at.
pub fn read_json(events: &[RecordedEvent], head_position: u64) -> Value {
    json!({
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "head_position": head_position,
    })
}

/// The JSON form of an item's state.
pub fn item_json(item: &ItemState) -> Value {
    json!({
        "item": item.item,
        "isbn": item.isbn,
        "title": item.title,
        "author": item.author,
        "owner_library": item.owner_library,
        "price_fen": item.price_fen,
        "acquisition": word(item.acquisition().as_str_name(), "ACQUISITION_"),
        "status": word(item.status().as_str_name(), "ITEM_STATUS_"),
        "library": item.library,
        "from_library": item.from_library,
        "transfer_reason": word(item.transfer_reason().as_str_name(), "TRANSFER_REASON_"),
        "homebound": item.homebound,
        "patron_id": item.patron_id,
        "due_at": timestamp_value(item.due_at.as_ref()),
        "renewal_count": item.renewal_count,
        "debt_fen": item.debt_fen,
        "revision": item.revision,
        "position": item.position,
    })
}

fn yes_no(yes: bool) -> &'static str {
    if yes { "yes" } else { "no" }
}

/// A pick list as lines: one per copy to pull, then the position it reflects.
pub fn pick_list_lines(list: &v1::PickListResponse) -> Vec<String> {
    let mut lines: Vec<String> = list
        .entries
        .iter()
        .map(|e| {
            let trapped = if e.trapped {
                ", trapped at a return"
            } else {
                ""
            };
            format!(
                "hold {}: {} 《{}》 {} → {} (pickup at {}){trapped}",
                e.hold, e.item, e.title, e.author, e.next_library, e.pickup_library
            )
        })
        .collect();
    lines.push(format!(
        "{}: {} to pull, as of position {}",
        list.library,
        list.entries.len(),
        list.applied_position
    ));
    lines
}

/// A pick list as JSON.
pub fn pick_list_json(list: &v1::PickListResponse) -> Value {
    json!({
        "library": list.library,
        "entries": list.entries.iter().map(|e| json!({
            "hold": e.hold, "item": e.item, "title_key": e.title_key, "isbn": e.isbn,
            "title": e.title, "author": e.author, "pickup_library": e.pickup_library,
            "next_library": e.next_library, "trapped": e.trapped,
        })).collect::<Vec<_>>(),
        "applied_position": list.applied_position,
    })
}

/// One hold in a line: its phase, and its queue position while it waits.
pub fn hold_line(h: &v1::GetHoldResponse) -> String {
    let phase = match h.phase() {
        v1::HoldPhase::Waiting => {
            let eta = if h.eta_us == 0 {
                String::new()
            } else {
                format!(", a copy expected back by {}", local_date_us(h.eta_us))
            };
            format!(
                "waiting, {} of {} in the queue{eta}, expires {}",
                h.queue_position,
                h.queue_length,
                local_date_us(h.expires_at_us)
            )
        }
        v1::HoldPhase::ToPull => format!("{} to pull at {}", h.item, h.item_library),
        v1::HoldPhase::InTransit => format!("{} on its way, at or to {}", h.item, h.item_library),
        v1::HoldPhase::Ready => format!(
            "{} ready on the hold shelf until {}",
            h.item,
            local_date_us(h.pickup_by_us)
        ),
        v1::HoldPhase::Unspecified => "unknown".to_owned(),
    };
    format!(
        "hold {} for {} at {}: {phase} (position {})",
        h.hold,
        if h.item_asked.is_empty() {
            &h.title_key
        } else {
            &h.item_asked
        },
        h.pickup_library,
        h.applied_position
    )
}

/// One hold as JSON.
pub fn hold_json(h: &v1::GetHoldResponse) -> Value {
    json!({
        "hold": h.hold, "title_key": h.title_key, "item_asked": h.item_asked,
        "pickup_library": h.pickup_library,
        "phase": word(h.phase().as_str_name(), "HOLD_PHASE_"),
        "queue_position": h.queue_position, "queue_length": h.queue_length,
        "item": h.item, "item_library": h.item_library,
        "expires_at_us": h.expires_at_us, "pickup_by_us": h.pickup_by_us,
        "eta_us": h.eta_us, "applied_position": h.applied_position,
    })
}

/// A copy on a work list as JSON fields.
fn work_copy_json(c: Option<&v1::WorkListCopy>) -> Value {
    let c = c.cloned().unwrap_or_default();
    json!({
        "item": c.item, "title_key": c.title_key, "isbn": c.isbn, "title": c.title,
        "author": c.author, "owner_library": c.owner_library,
    })
}

/// A copy on a work list in a line: its id and title.
fn work_copy_line(c: Option<&v1::WorkListCopy>) -> String {
    c.map(|c| format!("{} 《{}》 {}", c.item, c.title, c.author))
        .unwrap_or_default()
}

/// The last line of a paged work list: how many in all, and how to go on.
fn page_footer(
    library: &str,
    what: &str,
    shown: usize,
    total: u32,
    next: &str,
    flag: &str,
    position: u64,
) -> String {
    let more = if next.is_empty() {
        String::new()
    } else {
        format!("; more with {flag} {next}")
    };
    format!("{library}: {shown} of {total} {what}{more}, as of position {position}")
}

/// Copies to send home as lines.
pub fn homebound_lines(list: &v1::HomeboundListResponse) -> Vec<String> {
    let mut lines: Vec<String> = list
        .entries
        .iter()
        .map(|e| {
            let via = if e.via_centre.is_empty() {
                String::new()
            } else {
                format!(", or through {}", e.via_centre)
            };
            format!(
                "{} → {} (repatriation{via})",
                work_copy_line(e.copy.as_ref()),
                e.next_library
            )
        })
        .collect();
    lines.push(page_footer(
        &list.library,
        "to send home",
        list.entries.len(),
        list.total,
        &list.next_item,
        "--after-item",
        list.applied_position,
    ));
    lines
}

/// Copies to send home as JSON.
pub fn homebound_json(list: &v1::HomeboundListResponse) -> Value {
    json!({
        "library": list.library, "total": list.total,
        "entries": list.entries.iter().map(|e| json!({
            "copy": work_copy_json(e.copy.as_ref()), "next_library": e.next_library,
            "via_centre": e.via_centre,
        })).collect::<Vec<_>>(),
        "next_item": list.next_item, "applied_position": list.applied_position,
    })
}

/// Copies in transit as lines.
pub fn transit_lines(list: &v1::TransitListResponse) -> Vec<String> {
    let mut lines: Vec<String> = list
        .entries
        .iter()
        .map(|e| {
            let hold = if e.hold == 0 {
                String::new()
            } else {
                format!(", hold {} (pickup at {})", e.hold, e.pickup_library)
            };
            format!(
                "{}: {} → {} ({}){hold}",
                work_copy_line(e.copy.as_ref()),
                e.from_library,
                e.to_library,
                word(e.reason().as_str_name(), "TRANSFER_REASON_"),
            )
        })
        .collect();
    let what = match list.direction() {
        v1::TransitDirection::From => "in transit from here",
        _ => "in transit to here",
    };
    lines.push(page_footer(
        &list.library,
        what,
        list.entries.len(),
        list.total,
        &list.next_item,
        "--after-item",
        list.applied_position,
    ));
    lines
}

/// Copies in transit as JSON.
pub fn transit_json(list: &v1::TransitListResponse) -> Value {
    json!({
        "library": list.library,
        "direction": word(list.direction().as_str_name(), "TRANSIT_DIRECTION_"),
        "total": list.total,
        "entries": list.entries.iter().map(|e| json!({
            "copy": work_copy_json(e.copy.as_ref()), "from_library": e.from_library,
            "to_library": e.to_library,
            "reason": word(e.reason().as_str_name(), "TRANSFER_REASON_"),
            "hold": e.hold, "pickup_library": e.pickup_library,
        })).collect::<Vec<_>>(),
        "next_item": list.next_item, "applied_position": list.applied_position,
    })
}

/// Where a copy taken off the hold shelf goes now.
fn cleared_next(c: &v1::HoldShelfCleared) -> String {
    if c.next_hold != 0 {
        format!(
            "set aside for hold {} (pickup at {})",
            c.next_hold, c.next_pickup_library
        )
    } else if c.homebound {
        "send home".to_owned()
    } else {
        "back to the open shelves".to_owned()
    }
}

/// A hold shelf as lines: the copies ready, then those to take off it today.
pub fn hold_shelf_lines(shelf: &v1::HoldShelfResponse) -> Vec<String> {
    let mut lines: Vec<String> = shelf
        .ready
        .iter()
        .map(|r| {
            let past = if r.past_pickup_by {
                ", not picked up in time"
            } else {
                ""
            };
            format!(
                "ready, hold {}: {} until {}{past}",
                r.hold,
                work_copy_line(r.copy.as_ref()),
                local_date_us(r.pickup_by_us)
            )
        })
        .collect();
    lines.extend(shelf.cleared_today.iter().map(|c| {
        format!(
            "take off, hold {} {}: {}: {}",
            c.hold,
            word(c.reason().as_str_name(), "HOLD_END_REASON_").replace('_', " "),
            work_copy_line(c.copy.as_ref()),
            cleared_next(c)
        )
    }));
    lines.push(format!(
        "{}: {} ready, {} to take off today, as of position {}",
        shelf.library,
        shelf.ready.len(),
        shelf.cleared_today.len(),
        shelf.applied_position
    ));
    lines
}

/// A hold shelf as JSON.
pub fn hold_shelf_json(shelf: &v1::HoldShelfResponse) -> Value {
    json!({
        "library": shelf.library,
        "ready": shelf.ready.iter().map(|r| json!({
            "hold": r.hold, "copy": work_copy_json(r.copy.as_ref()),
            "pickup_by_us": r.pickup_by_us, "past_pickup_by": r.past_pickup_by,
        })).collect::<Vec<_>>(),
        "cleared_today": shelf.cleared_today.iter().map(|c| json!({
            "hold": c.hold, "copy": work_copy_json(c.copy.as_ref()),
            "reason": word(c.reason().as_str_name(), "HOLD_END_REASON_"),
            "ended_at_us": c.ended_at_us, "next_hold": c.next_hold,
            "next_pickup_library": c.next_pickup_library, "homebound": c.homebound,
        })).collect::<Vec<_>>(),
        "applied_position": shelf.applied_position,
    })
}

/// Overdue loans as lines.
pub fn overdue_lines(list: &v1::OverdueLoansResponse) -> Vec<String> {
    let mut lines: Vec<String> = list
        .loans
        .iter()
        .map(|l| {
            format!(
                "{}: due {}, {} days overdue, renewed {} times",
                work_copy_line(l.copy.as_ref()),
                local_date_us(l.due_at_us),
                l.days_overdue,
                l.renewal_count
            )
        })
        .collect();
    lines.push(page_footer(
        &list.library,
        "overdue",
        list.loans.len(),
        list.total,
        &list.next_page_token,
        "--page-token",
        list.applied_position,
    ));
    lines
}

/// Overdue loans as JSON.
pub fn overdue_json(list: &v1::OverdueLoansResponse) -> Value {
    json!({
        "library": list.library, "total": list.total,
        "loans": list.loans.iter().map(|l| json!({
            "copy": work_copy_json(l.copy.as_ref()), "due_at_us": l.due_at_us,
            "days_overdue": l.days_overdue, "renewal_count": l.renewal_count,
        })).collect::<Vec<_>>(),
        "next_page_token": list.next_page_token, "applied_position": list.applied_position,
    })
}

/// A subtree as lines: its libraries indented by depth, then one line per day with figures.
pub fn subtree_lines(response: &v1::SubtreeDaysResponse) -> Vec<String> {
    let mut lines: Vec<String> = response
        .libraries
        .iter()
        .map(|l| {
            format!(
                "{}{} {} ({}{})",
                "  ".repeat(l.depth as usize),
                l.library,
                l.name,
                word(l.tier().as_str_name(), "LIBRARY_TIER_"),
                if l.closed { ", closed" } else { "" }
            )
        })
        .collect();
    lines.extend(response.days.iter().map(|d| {
        format!(
            "{}: loans {}, returns {}, renewals {}, on loan {}, overdue {}",
            d.day, d.loans, d.returns, d.renewals, d.on_loan_at_day_end, d.overdue_at_day_end
        )
    }));
    lines
}

/// A subtree as JSON.
pub fn subtree_json(response: &v1::SubtreeDaysResponse) -> Value {
    json!({
        "applied_position": response.applied_position,
        "library": response.library,
        "libraries": response.libraries.iter().map(|l| json!({
            "library": l.library, "name": l.name,
            "tier": word(l.tier().as_str_name(), "LIBRARY_TIER_"),
            "parent": l.parent, "depth": l.depth, "closed": l.closed,
        })).collect::<Vec<_>>(),
        "days": response.days.iter().map(|d| json!({
            "day": d.day, "loans": d.loans, "returns": d.returns, "renewals": d.renewals,
            "on_loan_at_day_end": d.on_loan_at_day_end, "overdue_at_day_end": d.overdue_at_day_end,
        })).collect::<Vec<_>>(),
    })
}

fn budget_line(b: &v1::AcquisitionBudget) -> String {
    let whose = match (b.library.as_str(), b.city.as_str()) {
        ("", "") => "network".to_owned(),
        ("", city) => format!("city {city}"),
        (library, _) => library.to_owned(),
    };
    format!(
        "{whose}: budget {}{} fen, spent {} ({} purchases, {} patron-driven), remaining {}; patron-driven share {} fen, spent {} on {} book(s), remaining {}",
        b.budget_fen,
        if b.budget_set { "" } else { " (none set)" },
        b.spent_fen,
        b.purchases_spent_fen,
        b.patron_driven_spent_fen,
        b.remaining_fen,
        b.patron_driven_share_fen,
        b.patron_driven_spent_fen,
        b.patron_driven_books,
        b.patron_driven_remaining_fen
    )
}

/// A year's budgets as lines: each library, each city, then the total.
pub fn budgets_lines(response: &v1::AcquisitionBudgetsResponse) -> Vec<String> {
    let mut lines = vec![format!("budget year {}", response.year)];
    lines.extend(response.libraries.iter().map(budget_line));
    lines.extend(response.cities.iter().map(budget_line));
    lines.extend(response.total.iter().map(budget_line));
    lines
}

fn budget_json(b: &v1::AcquisitionBudget) -> Value {
    json!({
        "library": b.library, "city": b.city, "budget_set": b.budget_set,
        "budget_fen": b.budget_fen, "patron_driven_share_bp": b.patron_driven_share_bp,
        "patron_driven_share_fen": b.patron_driven_share_fen,
        "patron_driven_spent_fen": b.patron_driven_spent_fen,
        "patron_driven_remaining_fen": b.patron_driven_remaining_fen,
        "patron_driven_books": b.patron_driven_books,
        "purchases_spent_fen": b.purchases_spent_fen, "purchased_books": b.purchased_books,
        "spent_fen": b.spent_fen, "remaining_fen": b.remaining_fen,
    })
}

/// A year's budgets as JSON.
pub fn budgets_json(response: &v1::AcquisitionBudgetsResponse) -> Value {
    json!({
        "applied_position": response.applied_position,
        "year": response.year,
        "libraries": response.libraries.iter().map(budget_json).collect::<Vec<_>>(),
        "cities": response.cities.iter().map(budget_json).collect::<Vec<_>>(),
        "total": response.total.as_ref().map(budget_json),
    })
}

/// A patron's account in lines: the block first, then loans, holds and debts.
pub fn account_lines(a: &v1::GetAccountResponse) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: {} of {} on loan, {} overdue, {} holds, owes {} fen{}",
        a.masked_card,
        a.loans.len(),
        a.loan_limit,
        a.overdue_count,
        a.holds.len(),
        a.owed_fen,
        if a.blocked { ", BLOCKED" } else { "" }
    )];
    if a.blocked {
        lines.push(format!("blocked: {}", a.block_message));
    }
    for l in &a.loans {
        let overdue = if l.days_overdue > 0 {
            format!(", OVERDUE by {} days", l.days_overdue)
        } else {
            String::new()
        };
        lines.push(format!(
            "loan {} 《{}》 from {}, due {}, {} renewals left{overdue}",
            l.item, l.title, l.library, l.due_date, l.renewals_left
        ));
    }
    for h in &a.holds {
        let what = if h.title.is_empty() {
            h.title_key.clone()
        } else {
            format!("《{}》", h.title)
        };
        let phase = match h.phase() {
            v1::HoldPhase::Waiting => format!(
                "waiting, {} of {} in the queue, expires {}",
                h.queue_position,
                h.queue_length,
                local_date_us(h.expires_at_us)
            ),
            v1::HoldPhase::ToPull => format!("{} to pull at {}", h.item, h.item_library),
            v1::HoldPhase::InTransit => format!("{} on its way to {}", h.item, h.item_library),
            v1::HoldPhase::Ready => format!(
                "{} ready on the hold shelf until {}",
                h.item,
                local_date_us(h.pickup_by_us)
            ),
            v1::HoldPhase::Unspecified => "unknown".to_owned(),
        };
        lines.push(format!(
            "hold {} {what} for pickup at {}: {phase}",
            h.hold, h.pickup_library
        ));
    }
    for d in &a.debts {
        lines.push(format!(
            "debt {} 《{}》: {} fen for a lost item",
            d.item, d.title, d.owed_fen
        ));
    }
    lines
}

/// A patron's account as JSON (the card masked, as the server answers it).
pub fn account_json(a: &v1::GetAccountResponse) -> Value {
    json!({
        "masked_card": a.masked_card,
        "tier": word(a.tier().as_str_name(), "CREDIT_TIER_"),
        "loan_limit": a.loan_limit,
        "loans": a.loans.iter().map(|l| json!({
            "item": l.item, "title": l.title, "author": l.author, "library": l.library,
            "due_at_us": l.due_at_us, "due_date": l.due_date, "renewals_left": l.renewals_left,
            "days_overdue": l.days_overdue, "overdue": l.days_overdue > 0,
        })).collect::<Vec<_>>(),
        "overdue_count": a.overdue_count,
        "holds": a.holds.iter().map(|h| json!({
            "hold": h.hold, "title_key": h.title_key, "title": h.title,
            "item_asked": h.item_asked, "pickup_library": h.pickup_library,
            "phase": word(h.phase().as_str_name(), "HOLD_PHASE_"),
            "queue_position": h.queue_position, "queue_length": h.queue_length,
            "item": h.item, "item_library": h.item_library,
            "expires_at_us": h.expires_at_us, "pickup_by_us": h.pickup_by_us,
        })).collect::<Vec<_>>(),
        "debts": a.debts.iter().map(|d| json!({
            "item": d.item, "title": d.title, "owed_fen": d.owed_fen,
        })).collect::<Vec<_>>(),
        "owed_fen": a.owed_fen,
        "blocked": a.blocked,
        "block_reason": word(a.block_reason().as_str_name(), "BLOCK_REASON_"),
        "block_item": a.block_item,
        "block_message": a.block_message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use readnet_proto::v1::{Channel, ItemLoaned, ItemReturned};

    fn loaned() -> RecordedEvent {
        RecordedEvent {
            event_id: "6a1f0c2e-0000-4000-8000-000000000001".to_owned(),
            event_type: "ItemLoaned".to_owned(),
            stream: "item-ZB-0001".to_owned(),
            revision: 1,
            position: 17,
            occurred_at: Some(Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            recorded_at: None,
            acting_library: "ZB-CENTRAL".to_owned(),
            channel: Channel::Desk as i32,
            command_id: "c0ffee00-0000-4000-8000-000000000002".to_owned(),
            correlation_id: String::new(),
            principal: "desk-zb".to_owned(),
            event: Some(Event {
                payload: Some(Payload::ItemLoaned(ItemLoaned {
                    item: "ZB-0001".to_owned(),
                    patron_id: "0123456789abcdef".to_owned(),
                    library: "ZB-CENTRAL".to_owned(),
                    due_at_us: 1_769_875_199_000_000,
                    patron_home_city: "jinan".to_owned(),
                    owner_library: "ZB-CENTRAL".to_owned(),
                })),
            }),
        }
    }

    #[test]
    fn event_json_has_envelope_words_and_payload() {
        let value = event_json(&loaned());
        assert_eq!(value["position"], 17);
        assert_eq!(value["stream"], "item-ZB-0001");
        assert_eq!(value["channel"], "desk");
        assert_eq!(value["occurred_at"], "2026-01-01T00:00:00+00:00");
        assert_eq!(value["recorded_at"], Value::Null);
        assert_eq!(value["data"]["patron_home_city"], "jinan");
        assert_eq!(value["data"]["due_at_us"], 1_769_875_199_000_000_i64);
    }

    #[test]
    fn receipt_json_lists_events_and_duplicate_flag() {
        let receipt = CommandReceipt {
            command_id: "c0ffee00-0000-4000-8000-000000000002".to_owned(),
            duplicate: true,
            events: vec![loaned()],
            position: 17,
        };
        let value = receipt_json(&receipt);
        assert_eq!(value["duplicate"], true);
        assert_eq!(value["position"], 17);
        assert_eq!(value["events"][0]["event_type"], "ItemLoaned");
    }

    #[test]
    fn event_line_shows_position_stream_revision_and_facts() {
        let line = event_line(&loaned());
        assert!(line.starts_with(
            "#17 item-ZB-0001@1 ItemLoaned ZB-0001 to patron 01234567… at ZB-CENTRAL, due "
        ));
    }

    #[test]
    fn homebound_return_names_the_owner() {
        let event = Event {
            payload: Some(Payload::ItemReturned(ItemReturned {
                item: "ZB-0001".to_owned(),
                patron_id: "p".to_owned(),
                library: "JN-LIXIA-03".to_owned(),
                owner_library: "ZB-CENTRAL".to_owned(),
                homebound: true,
                was_lost: false,
            })),
        };
        assert_eq!(
            facts(&event),
            "ZB-0001 at JN-LIXIA-03, homebound to ZB-CENTRAL"
        );
    }

    #[test]
    fn item_json_spells_status_and_unknown_price() {
        let item = ItemState {
            item: "JN-0001".to_owned(),
            status: ItemStatus::OnShelf as i32,
            price_fen: None,
            ..ItemState::default()
        };
        let value = item_json(&item);
        assert_eq!(value["status"], "on_shelf");
        assert_eq!(value["price_fen"], Value::Null);
        assert_eq!(value["due_at"], Value::Null);
    }

    #[test]
    fn status_json_uses_canonical_code_names() {
        let value = status_json(&Status::failed_precondition("item ZB-0001 is on loan"));
        assert_eq!(value["error"]["code"], "FAILED_PRECONDITION");
        assert_eq!(value["error"]["message"], "item ZB-0001 is on loan");
    }
}
