//! The notices' clock and gateways' checkpoints (ADR 0016).

use readnet_domain::pb;
use readnet_domain::{Command, NewEvent, Payload, Rejection, StreamId};

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
