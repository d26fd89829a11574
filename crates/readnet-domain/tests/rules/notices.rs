//! The notices' clock and gateways' checkpoints (ADR 0016).

use readnet_domain::pb;
use readnet_domain::{Command, NewEvent, Payload, Rejection, RejectionKind, StreamId};

use crate::support::fixtures::*;
use crate::support::*;

fn ack(gateway: &str, through_sequence: u64) -> Command {
    Command::AcknowledgeNotices {
        gateway: gateway.into(),
        through_sequence,
    }
}

#[test]
fn the_clock_ticks_forward_only_and_a_tick_not_later_is_not_recorded() {
    let s = given(network_jinan_zibo())
        .when_at(t0(), None, Command::TickClock)
        .then_events(vec![NewEvent {
            stream: StreamId::Network,
            payload: Payload::ClockTicked(pb::ClockTicked {
                at_us: t0().timestamp_micros(),
            }),
        }]);
    let refused = s
        .clone()
        .when_at(t0(), None, Command::TickClock)
        .then_rejected(Rejection::ClockNotLater {
            at: t0(),
            last: t0(),
        });
    assert!(!refused.is_recorded(), "an idle tick writes nothing");
    s.when_at(t0() + days(1), None, Command::TickClock)
        .then_accepted();
}

#[test]
fn a_gateways_checkpoint_moves_forward_only() {
    let s = given(network_jinan_zibo())
        .when_at(t0(), None, ack("wechat", 3))
        .then_accepted()
        .when_at(t0(), None, ack("wechat", 3))
        .then_accepted();
    assert_eq!(s.ledger().network.notice_acks.get("wechat"), Some(&3));
    s.clone()
        .when_at(t0(), None, ack("wechat", 2))
        .then_rejected(Rejection::NoticeAckBackwards {
            gateway: "wechat".into(),
            through_sequence: 2,
            acked: 3,
        });
    // Another gateway has its own checkpoint.
    s.clone().when_at(t0(), None, ack("sms", 1)).then_accepted();
    s.when_at(t0(), None, ack("WeChat!", 1))
        .then_rejected(Rejection::BadGatewayName {
            gateway: "WeChat!".into(),
        });
}

fn footfall(gate: &str, from_minute: i64, to_minute: i64, visits: u64) -> Command {
    Command::ReportFootfall {
        gate: gate.into(),
        from: t0() + chrono::Duration::minutes(from_minute),
        to: t0() + chrono::Duration::minutes(to_minute),
        visits,
    }
}

#[test]
fn a_gate_reports_each_interval_once_and_in_order() {
    let at = t0() + chrono::Duration::hours(1);
    let s = given(network_jinan_zibo())
        .when_at(at, Some("JN-CENTRAL"), footfall("main", 0, 15, 12))
        .then_events(vec![NewEvent {
            stream: StreamId::Network,
            payload: Payload::FootfallReported(pb::FootfallReported {
                library: "JN-CENTRAL".into(),
                gate: "main".into(),
                from_us: t0().timestamp_micros(),
                to_us: (t0() + chrono::Duration::minutes(15)).timestamp_micros(),
                visits: 12,
            }),
        }]);
    // The next interval is taken; one that overlaps the reported one is refused.
    let s = s
        .when_at(at, Some("JN-CENTRAL"), footfall("main", 15, 30, 7))
        .then_accepted();
    s.clone()
        .when_at(at, Some("JN-CENTRAL"), footfall("main", 20, 35, 7))
        .then_refused(RejectionKind::FailedPrecondition, "reported through");
    // Another gate, or the same gate name at another library, counts apart.
    s.clone()
        .when_at(at, Some("JN-CENTRAL"), footfall("side", 0, 15, 3))
        .then_accepted();
    s.clone()
        .when_at(at, Some("ZB-CENTRAL"), footfall("main", 0, 15, 3))
        .then_accepted();
    // An interval that has not ended, runs backwards or is longer than a day is refused.
    for (from, to) in [(30, 90), (30, 30), (-2000, 30)] {
        s.clone()
            .when_at(at, Some("JN-CENTRAL"), footfall("late", from, to, 1))
            .then_refused(RejectionKind::InvalidArgument, "interval_end");
    }
    s.clone()
        .when_at(at, Some("JN-CENTRAL"), footfall("Main Door", 0, 15, 1))
        .then_refused(RejectionKind::InvalidArgument, "gate");
    s.when_at(at, None, footfall("main", 30, 45, 1))
        .then_refused(RejectionKind::InvalidArgument, "x-readnet-library");
}
