//! The patron's account (issue 10, item 4) end to end: one query by card shows loans with due
//! dates and renewals left, the overdue ones, holds with their phase and queue position, lost-item
//! debts, and the block a checkout would be refused for; never the card number. Asked over gRPC
//! by a desk and by a kiosk at its own library, and through `readnet account --json`.

use chrono::{Duration, Utc};
use readnet_e2e::v1::{self, account_service_client::AccountServiceClient};
use readnet_e2e::*;
use tonic::Code;

const JN_24H: &str = "JN-24H";

async fn account(
    desk: &Desk,
    channel: &AuthChannel,
    card: v1::Card,
) -> Result<v1::GetAccountResponse, tonic::Status> {
    AccountServiceClient::new(channel.clone())
        .get_account(desk.request_as_is(v1::GetAccountRequest { card: Some(card) }))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn an_account_shows_loans_overdue_holds_debts_and_the_block_a_checkout_is_refused_for() {
    let fixture = network_jinan_zibo().await;
    let net = fixture.net.clone();
    let desk = net.at(JN_CENTRAL);
    let reader = "370102199001011234";
    let reader_card = || card(JINAN, reader);

    // A loan today, and one made 65 days ago (an offline kiosk syncing late): due 35 days ago.
    accepted(
        desk.checkout(JN_BOOKS[0], reader_card()).await,
        "checkout today",
    );
    accepted(desk.renew(JN_BOOKS[0], reader_card()).await, "renewal");
    accepted(
        desk.checkout_at(JN_BOOKS[1], reader_card(), Utc::now() - Duration::days(65))
            .await,
        "checkout 65 days ago",
    );

    // Two other patrons queue for the book on loan: first and second in its title's queue.
    let first = card(JINAN, "370102199001010001");
    let second = card(JINAN, "370102199001010002");
    for (who, what) in [(&first, "first hold"), (&second, "second hold")] {
        let request = desk.request(v1::PlaceHoldRequest {
            card: Some(who.clone()),
            wanted: Some(v1::HoldWanted {
                item: JN_BOOKS[0].to_owned(),
                ..Default::default()
            }),
            pickup_library: JN_CENTRAL.to_owned(),
            ..Default::default()
        });
        accepted(desk.holds().place_hold(request).await, what);
    }

    let answer = account(&desk, &net.channel, reader_card())
        .await
        .expect("the desk reads the account");
    assert_eq!(answer.masked_card, "jinan:****1234");
    assert!(
        !format!("{answer:?}").contains(reader),
        "the account never holds the card number: {answer:?}"
    );
    assert_eq!(answer.loans.len(), 2, "{answer:?}");
    // Soonest due first: the late loan, then today's (renewed once: one renewal left).
    let (late, today) = (&answer.loans[0], &answer.loans[1]);
    assert_eq!(late.item, JN_BOOKS[1]);
    assert!(
        (34..=36).contains(&late.days_overdue),
        "due 35 days ago: {late:?}"
    );
    assert_eq!(late.renewals_left, 2);
    assert_eq!(today.item, JN_BOOKS[0]);
    assert_eq!(today.days_overdue, 0);
    assert_eq!(today.renewals_left, 1);
    assert_eq!(today.title, format!("Title of {}", JN_BOOKS[0]));
    assert_eq!(answer.overdue_count, 1);
    assert!(answer.blocked);
    assert_eq!(answer.block_reason(), v1::BlockReason::Overdue);
    assert_eq!(answer.block_item, JN_BOOKS[1]);
    // The same words a refused checkout carries.
    let refusal = refused(
        desk.checkout(JN_BOOKS[2], reader_card()).await,
        Code::FailedPrecondition,
        "blocked",
        "checkout by a blocked patron",
    );
    assert_eq!(answer.block_message, refusal);

    let queued = account(&desk, &net.channel, second.clone())
        .await
        .expect("the second patron's account");
    assert_eq!(queued.holds.len(), 1);
    let hold = &queued.holds[0];
    assert_eq!(hold.phase(), v1::HoldPhase::Waiting);
    assert_eq!((hold.queue_position, hold.queue_length), (2, 2), "{hold:?}");
    assert_eq!(hold.item_asked, JN_BOOKS[0]);
    assert_eq!(hold.pickup_library, JN_CENTRAL);
    assert!(hold.expires_at_us > Utc::now().timestamp_micros());
    assert!(!queued.blocked);

    // A lost book: a debt that blocks until paid; a part payment lowers it.
    let loser = card(ZIBO, "370302000000005678");
    let zibo = net.at(ZB_CENTRAL);
    accepted(
        zibo.checkout(ZB_BOOKS[0], loser.clone()).await,
        "zibo checkout",
    );
    accepted(zibo.declare_lost(ZB_BOOKS[0]).await, "declared lost");
    accepted(zibo.pay_lost_item(ZB_BOOKS[0], 1000).await, "part payment");
    let owing = account(&desk, &net.channel, loser.clone())
        .await
        .expect("the account of a patron of another city, at a Jinan desk");
    assert_eq!(owing.loans.len(), 0);
    assert_eq!(owing.debts.len(), 1);
    assert_eq!(owing.debts[0].item, ZB_BOOKS[0]);
    assert_eq!(owing.debts[0].owed_fen, 2500);
    assert_eq!(owing.owed_fen, 2500);
    assert_eq!(owing.block_reason(), v1::BlockReason::LostItemUnpaid);

    // A card never used: NOT_FOUND naming the masked card, never the number.
    let unknown = account(&desk, &net.channel, card(JINAN, "370102000000009999")).await;
    let status = unknown.expect_err("no patron behind an unused card");
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("jinan:****9999"), "{status:?}");
    assert!(!status.message().contains("370102000000009999"));

    // A kiosk at its own library reads the account; aimed at another library it may not.
    net.system()
        .register_library(JN_24H, JINAN, v1::LibraryTier::SelfService, JN_CENTRAL)
        .await
        .expect("RegisterLibrary JN-24H");
    let kiosk = net
        .principal(
            "kiosk-24h",
            v1::Grant {
                role: v1::Role::Kiosk as i32,
                libraries: vec![JN_24H.to_owned()],
                ..Default::default()
            },
        )
        .await;
    let at_home = account(&kiosk.acting(None, None), &kiosk.channel, reader_card())
        .await
        .expect("the kiosk reads the account at its library");
    assert_eq!(at_home, answer);
    let away = account(
        &kiosk.acting(Some(ZB_CENTRAL), None),
        &kiosk.channel,
        reader_card(),
    )
    .await;
    assert_eq!(
        away.expect_err("out of scope").code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn the_cli_prints_an_account_as_json_with_the_card_masked() {
    let fixture = network_jinan_zibo().await;
    let desk = fixture.net.at(JN_CENTRAL);
    accepted(
        desk.checkout(JN_BOOKS[0], card(JINAN, "370102199001011234"))
            .await,
        "checkout",
    );
    let output = std::process::Command::new(readnet_binary())
        .args([
            "account",
            "--card",
            "jinan:370102199001011234",
            "--library",
            JN_CENTRAL,
            "--json",
            "--server",
            &fixture.server.url(),
        ])
        .env("READNET_TOKEN", fixture.server.admin_token())
        .output()
        .expect("readnet runs");
    assert!(
        output.status.success(),
        "readnet account failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("370102199001011234"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(json["masked_card"], "jinan:****1234");
    assert_eq!(json["loans"][0]["item"], JN_BOOKS[0]);
    assert_eq!(json["loans"][0]["renewals_left"], 2);
    assert_eq!(json["blocked"], false);
}
