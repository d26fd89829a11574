//! Each SIP2 message as its gRPC twin: the request built from the message's fields, handed to
//! the same service handler gRPC calls (with the session's caller, library and the `kiosk`
//! channel), and the receipt or refusal turned into the SIP2 response.

use std::net::SocketAddr;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use http::{HeaderMap, HeaderValue};
use readnet_domain::access::{Act, Authenticated, authorize_act};
use readnet_domain::pb::{
    self, circulation_service_server::CirculationService, event::Payload,
    hold_service_server::HoldService,
};
use readnet_domain::{
    CityCode, HoldState, ItemStatus, LibraryCode, MAX_OPEN_HOLDS, PrincipalName, Role, Scope,
};
use tonic::{Code, Request, Status};
use uuid::Uuid;

use super::codec::{self, Frame};
use super::{Fault, Sip2};
use crate::edge::{self, CHANNEL_HEADER, LIBRARY_HEADER};

/// A screen message (`AF`) is cut to this many characters: two lines of a kiosk's screen.
const SCREEN_CHARS: usize = 120;

/// Logins that fail before the session is closed.
const MAX_FAILED_LOGINS: u32 = 3;

/// The messages this server answers, in the order of SIP2's supported-messages field (`BX`):
/// patron status, checkout, checkin, block patron, SC/ACS status, resend, login, patron
/// information, end patron session, fee paid, item information, item status update, patron
/// enable, hold, renew, renew all.
pub const SUPPORTED_MESSAGES: &str = "YYYNYYYYYYYNNYYY";

/// The network's currency, for `BH`.
const CURRENCY: &str = "CNY";

/// What a session knows between its messages.
#[derive(Default)]
pub(super) struct Session {
    login: Option<Login>,
    /// The last answer sent, for a resend (97).
    last_answer: Option<String>,
    failed_logins: u32,
}

/// The principal a session logged in as and where it acts.
struct Login {
    principal: PrincipalName,
    token: String,
    library: LibraryCode,
    library_name: String,
    city: CityCode,
    time_zone: Tz,
}

impl Session {
    /// The answer to one request; `None` ends the session.
    pub(super) async fn answer(
        &mut self,
        sip2: &Sip2,
        frame: Frame,
        peer: SocketAddr,
    ) -> Result<Option<String>, Fault> {
        let code = frame.message.spec().code;
        let answer = match code {
            "93" => self.login(sip2, &frame, peer).await?,
            "99" => self.status(sip2, &frame),
            "97" => {
                return Ok(Some(
                    self.last_answer
                        .clone()
                        .unwrap_or_else(codec::request_resend),
                ));
            }
            _ => {
                let Some(login) = &self.login else {
                    return Err(Fault::Protocol(format!(
                        "message {code} ({}) before a successful login (93)",
                        frame.message.spec().label
                    )));
                };
                let caller = sip2
                    .authenticate(login.principal.as_str(), &login.token)
                    .map_err(|status| {
                        Fault::Protocol(format!(
                            "the credential of principal {} no longer works: {}",
                            login.principal,
                            status.message()
                        ))
                    })?;
                let at = Ctx {
                    sip2,
                    login,
                    caller,
                    frame: &frame,
                };
                match code {
                    "23" => at.patron_status().await,
                    "63" => at.patron_information().await,
                    "17" => at.item_information().await,
                    "11" => at.checkout().await,
                    "09" => at.checkin().await,
                    "29" => at.renew().await,
                    "65" => at.renew_all().await,
                    "37" => at.fee_paid().await,
                    "15" => at.hold().await,
                    "35" => at.end_patron_session(),
                    other => {
                        return Err(Fault::Protocol(format!(
                            "message {other} ({}) is not one this server takes (supported \
                             messages: {SUPPORTED_MESSAGES})",
                            frame.message.spec().label
                        )));
                    }
                }
            }
        };
        self.last_answer = Some(answer.clone());
        Ok(Some(answer))
    }

    /// 93 → 94: the SIP user and password are a kiosk's or desk's principal name and token.
    async fn login(
        &mut self,
        sip2: &Sip2,
        frame: &Frame,
        peer: SocketAddr,
    ) -> Result<String, Fault> {
        let field = |code| frame.message.get_field_value(code).unwrap_or("").trim();
        let (name, token, location) = (field("CN"), field("CO"), field("CP"));
        match sip2.log_in(name, token, location).await {
            Ok(login) => {
                tracing::info!(
                    %peer,
                    principal = %login.principal,
                    library = %login.library,
                    "SIP2 login"
                );
                self.login = Some(login);
                self.failed_logins = 0;
                Ok(codec::build("94", &["1"], &[], frame.sequence))
            }
            Err(reason) => {
                self.login = None;
                self.failed_logins += 1;
                // The name is the client's to choose: quoted, shortened, never the token.
                tracing::warn!(%peer, principal = %quote(name), %reason, "SIP2 login refused");
                if self.failed_logins >= MAX_FAILED_LOGINS {
                    return Err(Fault::Protocol(format!(
                        "{MAX_FAILED_LOGINS} logins failed in a row"
                    )));
                }
                Ok(codec::build("94", &["0"], &[], frame.sequence))
            }
        }
    }

    /// 99 → 98: online, what is supported, the library's time.
    fn status(&self, sip2: &Sip2, frame: &Frame) -> String {
        let now = sip2.clock.now();
        let (library, name, tz) = match &self.login {
            Some(login) => (
                login.library.to_string(),
                login.library_name.clone(),
                login.time_zone,
            ),
            None => (
                String::new(),
                "readnet".to_owned(),
                chrono_tz::Asia::Shanghai,
            ),
        };
        codec::build(
            "98",
            &[
                "Y",   // on-line
                "Y",   // checkin ok
                "Y",   // checkout ok
                "Y",   // renewal policy: renewals allowed
                "N",   // status update ok
                "N",   // offline ok: the ledger decides every loan
                "100", // timeout period, tenths of a second
                "003", // retries allowed
                &sip_date(now, tz),
                "2.00",
            ],
            &[("AO", &library), ("AM", &name), ("BX", SUPPORTED_MESSAGES)],
            frame.sequence,
        )
    }
}

impl Sip2 {
    /// The caller a principal name and token prove, as the gRPC listener's layer proves them
    /// (HTTP basic credentials).
    pub(super) fn authenticate(&self, name: &str, token: &str) -> Result<Authenticated, Status> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{token}"));
        let value = HeaderValue::from_str(&format!("Basic {basic}"))
            .map_err(|_| Status::unauthenticated("the credential is not ASCII text"))?;
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        self.authenticator.authenticate(&headers)
    }

    /// A login: the principal must be a kiosk's or a desk's; it acts at its one library, or
    /// at the library its location code (`CP`) names among its own.
    async fn log_in(&self, name: &str, token: &str, location: &str) -> Result<Login, String> {
        if name.is_empty() || token.is_empty() {
            return Err("CN (the principal's name) and CO (its token) are required".into());
        }
        let caller = self
            .authenticate(name, token)
            .map_err(|status| status.message().to_owned())?;
        let authority = &caller.authority;
        if !matches!(authority.role(), Role::Kiosk | Role::Desk) {
            return Err(format!(
                "principal {} is a {}: SIP2 logins are for kiosk and desk principals",
                authority.principal,
                authority.role().as_str()
            ));
        }
        let Scope::Libraries(libraries) = &authority.grant.scope else {
            return Err(format!(
                "principal {} has no library to act at",
                authority.principal
            ));
        };
        let library = match (libraries.len(), location) {
            (1, "") => libraries.iter().next().cloned().unwrap_or_default(),
            (_, "") => {
                return Err(format!(
                    "principal {} acts for {} libraries: name one in CP",
                    authority.principal,
                    libraries.len()
                ));
            }
            (_, named) => libraries
                .iter()
                .find(|l| l.as_str() == named)
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "CP {}: principal {} does not act there ({})",
                        quote(named),
                        authority.principal,
                        authority.grant.scope
                    )
                })?,
        };
        let wanted = library.clone();
        let found = self
            .bus
            .read(move |ledger| {
                let network = &ledger.network;
                network.libraries.get(&wanted).map(|l| {
                    (
                        l.name.clone(),
                        l.city.clone(),
                        network.library_time_zone(wanted.as_str()),
                    )
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        let (library_name, city, time_zone) =
            found.ok_or_else(|| format!("library {library} is not registered"))?;
        Ok(Login {
            principal: authority.principal.clone(),
            token: token.to_owned(),
            library,
            library_name,
            city,
            time_zone,
        })
    }
}

/// One request of a logged-in session.
struct Ctx<'a> {
    sip2: &'a Sip2,
    login: &'a Login,
    caller: Authenticated,
    frame: &'a Frame,
}

/// A patron as the patron messages show them.
struct PatronView {
    valid: bool,
    /// Why the card is not valid, or what the account's block says.
    screen: String,
    account: Option<pb::GetAccountResponse>,
    masked: String,
}

/// An item as item information shows it.
struct ItemView {
    title: String,
    owner: String,
    status: ItemStatus,
    /// The hold the copy is set aside for: ready or not, and where it is picked up.
    hold: Option<(bool, LibraryCode)>,
    /// Holds waiting for a copy like this one.
    queue: usize,
}

impl Ctx<'_> {
    fn field(&self, code: &str) -> &str {
        self.frame
            .message
            .get_field_value(code)
            .unwrap_or("")
            .trim()
    }

    fn fixed(&self, index: usize) -> &str {
        self.frame
            .message
            .fixed_fields()
            .get(index)
            .map_or("", |f| f.value())
    }

    fn now(&self) -> String {
        sip_date(self.sip2.clock.now(), self.login.time_zone)
    }

    fn library(&self) -> String {
        self.login.library.to_string()
    }

    fn build(&self, code: &str, fixed: &[&str], fields: &[(&str, &str)]) -> String {
        codec::build(code, fixed, fields, self.frame.sequence)
    }

    /// `message` as a request from the session's caller at its library, on the kiosk
    /// channel: what the gRPC listener's layer and a kiosk's metadata make of a call.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.extensions_mut().insert(self.caller.clone());
        let metadata = request.metadata_mut();
        if let Ok(library) = self.login.library.as_str().parse() {
            metadata.insert(LIBRARY_HEADER, library);
        }
        metadata.insert(
            CHANNEL_HEADER,
            tonic::metadata::MetadataValue::from_static("kiosk"),
        );
        request
    }

    /// This request's command id: its last one if it is a resend (ADR 0015).
    fn command_id(&self) -> Uuid {
        let (command_id, resend) = self.sip2.command_id(&self.login.principal, self.frame);
        if resend {
            tracing::info!(
                principal = %self.login.principal,
                %command_id,
                message = self.frame.message.spec().code,
                "SIP2 resend: answered with the first send's outcome"
            );
        }
        command_id
    }

    /// The card in `AA`: `city:number` as given, or a bare number of the kiosk's city.
    fn card(&self) -> pb::Card {
        let patron = self.field("AA");
        match patron.split_once(':') {
            Some((city, number)) => pb::Card {
                city: city.trim().to_owned(),
                number: number.trim().to_owned(),
            },
            None => pb::Card {
                city: self.login.city.to_string(),
                number: patron.to_owned(),
            },
        }
    }

    /// The patron in `AA`: valid if the card is well formed and of a member city; their
    /// account if the card has been used.
    async fn patron(&self) -> PatronView {
        let card = self.card();
        let masked = match edge::patron(Some(&card), "AA", &self.sip2.key) {
            Ok(patron) => patron.masked_card,
            Err(error) => {
                return PatronView {
                    valid: false,
                    screen: error.to_string(),
                    account: None,
                    masked: String::new(),
                };
            }
        };
        let request = self.request(pb::GetAccountRequest {
            card: Some(card.clone()),
        });
        match self.sip2.account.account(&request).await {
            Ok(account) => PatronView {
                valid: true,
                screen: account.block_message.clone(),
                account: Some(account),
                masked,
            },
            Err(status) if status.code() == Code::NotFound => {
                let city = card.city.clone();
                let member = self
                    .sip2
                    .bus
                    .read(move |ledger| ledger.network.cities.contains_key(city.as_str()))
                    .await
                    .unwrap_or(false);
                PatronView {
                    valid: member,
                    screen: if member {
                        String::new()
                    } else {
                        format!("card city {} is not a member of the network", card.city)
                    },
                    account: None,
                    masked,
                }
            }
            Err(status) => PatronView {
                valid: false,
                screen: status.message().to_owned(),
                account: None,
                masked,
            },
        }
    }

    /// An item's title, place and hold, as the ledger's state has them.
    async fn item(&self, code: &str) -> Result<Option<ItemView>, String> {
        authorize_act(
            &self.caller.authority,
            Act::ReadCatalogue,
            &[],
            self.caller.view.as_ref(),
        )
        .map_err(|rejection| rejection.to_string())?;
        let code = edge::item_code(code, "AB").map_err(|e| e.to_string())?;
        self.sip2
            .bus
            .read(move |ledger| {
                let item = ledger.items.get(&code)?;
                let hold = item.hold.and_then(|n| ledger.holds.get(&n)).map(|h| {
                    (
                        matches!(h.state, HoldState::Ready { .. }),
                        h.pickup_library.clone(),
                    )
                });
                let queue = ledger
                    .holds
                    .values()
                    .filter(|h| h.state == HoldState::Queued && h.wants(item))
                    .count();
                Some(ItemView {
                    title: item.title.clone(),
                    owner: item.owner_library.to_string(),
                    status: item.status.clone(),
                    hold,
                    queue,
                })
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn title(&self, item: &str) -> String {
        match self.item(item).await {
            Ok(Some(view)) => view.title,
            _ => String::new(),
        }
    }

    /// 23 → 24.
    async fn patron_status(&self) -> String {
        let patron = self.patron().await;
        let status = patron_status(&patron);
        let owed = patron.account.as_ref().map_or(0, |a| a.owed_fen);
        let language = self.fixed(0).to_owned();
        self.build(
            "24",
            &[&status, &language, &self.now()],
            &[
                ("AO", &self.library()),
                ("AA", self.field("AA")),
                ("AE", &patron.masked),
                ("BL", yes_no(patron.valid)),
                ("BH", CURRENCY),
                ("BV", &yuan(owed)),
                ("AF", &screen(&patron.screen)),
            ],
        )
    }

    /// 63 → 64, with the summary's lists the request asks for (`BP`/`BQ`: the range, from 1).
    async fn patron_information(&self) -> String {
        let patron = self.patron().await;
        let status = patron_status(&patron);
        let language = self.fixed(0).to_owned();
        let summary: Vec<char> = self.fixed(2).chars().collect();
        let wants = |i: usize| summary.get(i).is_some_and(|c| *c == 'Y' || *c == 'y');
        let empty = pb::GetAccountResponse::default();
        let account = patron.account.as_ref().unwrap_or(&empty);
        let ready: Vec<String> = account
            .holds
            .iter()
            .filter(|h| h.phase() == pb::HoldPhase::Ready)
            .map(|h| h.item.clone())
            .collect();
        let waiting: Vec<String> = account
            .holds
            .iter()
            .filter(|h| h.phase() != pb::HoldPhase::Ready)
            .map(|h| {
                if h.item_asked.is_empty() {
                    h.title_key.clone()
                } else {
                    h.item_asked.clone()
                }
            })
            .collect();
        let overdue: Vec<String> = account
            .loans
            .iter()
            .filter(|l| l.days_overdue > 0)
            .map(|l| l.item.clone())
            .collect();
        let charged: Vec<String> = account.loans.iter().map(|l| l.item.clone()).collect();
        let fines: Vec<String> = account
            .debts
            .iter()
            .map(|d| format!("{} {} {} lost item", d.item, CURRENCY, yuan(d.owed_fen)))
            .collect();
        let start = self.field("BP").parse::<usize>().unwrap_or(1).max(1);
        let end = self
            .field("BQ")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
            .max(start);
        let range = |list: &[String]| -> Vec<String> {
            list.iter()
                .skip(start - 1)
                .take(end - start + 1)
                .cloned()
                .collect()
        };
        let owed = yuan(account.owed_fen);
        let limit = count4(account.loan_limit as usize);
        let holds_limit = count4(MAX_OPEN_HOLDS);
        let mut fields: Vec<(&str, String)> = vec![
            ("AO", self.library()),
            ("AA", self.field("AA").to_owned()),
            ("AE", patron.masked.clone()),
            ("BZ", holds_limit),
            ("CB", limit),
            ("BL", yes_no(patron.valid).to_owned()),
            ("BH", CURRENCY.to_owned()),
            ("BV", owed),
            ("AF", screen(&patron.screen)),
        ];
        for (index, code, list) in [
            (0, "AS", &ready),
            (1, "AT", &overdue),
            (2, "AU", &charged),
            (3, "AV", &fines),
            (5, "CD", &waiting),
        ] {
            if wants(index) {
                fields.extend(range(list).into_iter().map(|v| (code, v)));
            }
        }
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(c, v)| (*c, v.as_str())).collect();
        self.build(
            "64",
            &[
                &status,
                &language,
                &self.now(),
                &count4(ready.len()),
                &count4(overdue.len()),
                &count4(charged.len()),
                &count4(fines.len()),
                "0000",
                &count4(waiting.len()),
            ],
            &pairs,
        )
    }

    /// 17 → 18: the circulation status of SIP2 (03 available, 04 charged, 08 on the hold
    /// shelf, 10 in transit, 12 lost, 01 other).
    async fn item_information(&self) -> String {
        let code = self.field("AB").to_owned();
        let view = match self.item(&code).await {
            Ok(Some(view)) => view,
            Ok(None) => {
                return self.build(
                    "18",
                    &["01", "00", "01", &self.now()],
                    &[
                        ("AB", &code),
                        ("AJ", ""),
                        ("AF", &format!("item {code} is not catalogued")),
                    ],
                );
            }
            Err(why) => {
                return self.build(
                    "18",
                    &["01", "00", "01", &self.now()],
                    &[("AB", &code), ("AJ", ""), ("AF", &screen(&why))],
                );
            }
        };
        let mut due = String::new();
        let mut place = String::new();
        let mut destination = String::new();
        let (status, words) = match (&view.status, &view.hold) {
            (ItemStatus::OnShelf { library, .. }, Some((ready, pickup))) => {
                place = library.to_string();
                if pickup == library {
                    (
                        "08",
                        if *ready {
                            "on the hold shelf"
                        } else {
                            "held for a patron here"
                        },
                    )
                } else {
                    destination = pickup.to_string();
                    ("10", "held for a patron elsewhere")
                }
            }
            (ItemStatus::OnShelf { library, homebound }, None) => {
                place = library.to_string();
                if *homebound {
                    destination = view.owner.clone();
                    ("10", "waiting to go home")
                } else {
                    ("03", "available")
                }
            }
            (ItemStatus::OnLoan { due_at, .. }, _) => {
                due = sip_date(*due_at, self.login.time_zone);
                ("04", "on loan")
            }
            (ItemStatus::InTransit { to, from, .. }, _) => {
                place = from.to_string();
                destination = to.to_string();
                ("10", "in transit")
            }
            (ItemStatus::InBooth { booth }, _) => {
                place = booth.to_string();
                ("03", "in a book-exchange booth")
            }
            (ItemStatus::Lost { .. }, _) => ("12", "lost"),
            (ItemStatus::Withdrawn, _) => ("01", "withdrawn"),
            (ItemStatus::ExchangedOut, _) => ("01", "exchanged out of the network"),
        };
        let queue = count4(view.queue);
        let mut fields = vec![
            ("AB", code.as_str()),
            ("AJ", view.title.as_str()),
            ("AQ", view.owner.as_str()),
            ("BG", view.owner.as_str()),
            ("CF", queue.as_str()),
            ("AF", words),
        ];
        for (code, value) in [("AP", &place), ("CT", &destination), ("AH", &due)] {
            if !value.is_empty() {
                fields.push((code, value.as_str()));
            }
        }
        self.build("18", &[status, "00", "01", &self.now()], &fields)
    }

    /// 11 → 12.
    async fn checkout(&self) -> String {
        let item = self.field("AB").to_owned();
        let command_id = self.command_id();
        let outcome = if self.field("BI").eq_ignore_ascii_case("Y") {
            Err(Status::failed_precondition(
                "cancelling a checkout is not supported here: return the item",
            ))
        } else {
            let request = self.request(pb::CheckoutRequest {
                command_id: command_id.to_string(),
                item: item.clone(),
                card: Some(self.card()),
                ..Default::default()
            });
            CirculationService::checkout(&self.sip2.commands, request).await
        };
        let title = self.title(&item).await;
        let (ok, due, words) = match outcome {
            Ok(response) => {
                let due = receipt_payloads(response.get_ref().receipt.as_ref())
                    .find_map(|p| match p {
                        Payload::ItemLoaned(e) => Some(e.due_at_us),
                        _ => None,
                    })
                    .and_then(DateTime::<Utc>::from_timestamp_micros)
                    .map(|at| sip_date(at, self.login.time_zone))
                    .unwrap_or_default();
                let words = format!("due {}", human_date(&due));
                (true, due, words)
            }
            Err(status) => (false, String::new(), status.message().to_owned()),
        };
        let command = command_id.to_string();
        let mut fields = vec![
            ("AO", self.library()),
            ("AA", self.field("AA").to_owned()),
            ("AB", item),
            ("AJ", title),
            ("AF", screen(&words)),
            ("BK", command),
        ];
        if ok {
            fields.push(("AH", due));
        }
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(c, v)| (*c, v.as_str())).collect();
        self.build(
            "12",
            &[one_zero(ok), "N", "U", yes_no(ok), &self.now()],
            &pairs,
        )
    }

    /// 09 → 10, with an alert when the book is not for this shelf: 01 a hold here, 02 a hold
    /// picked up elsewhere, 04 it goes to another library (home, or in transit); the
    /// destination in `CT` and in the screen message.
    async fn checkin(&self) -> String {
        let item = self.field("AB").to_owned();
        let command_id = self.command_id();
        let location = self.field("AP").to_owned();
        let elsewhere = if location.is_empty() || location == self.login.library.as_str() {
            false
        } else {
            let named = location.clone();
            self.sip2
                .bus
                .read(move |ledger| ledger.network.libraries.contains_key(named.as_str()))
                .await
                .unwrap_or(false)
        };
        let outcome = if elsewhere {
            Err(Status::permission_denied(format!(
                "AP: {location} is not this kiosk's library ({}): a kiosk returns books where it \
                 stands",
                self.login.library
            )))
        } else {
            let request = self.request(pb::ReturnRequest {
                command_id: command_id.to_string(),
                item: item.clone(),
                ..Default::default()
            });
            CirculationService::r#return(&self.sip2.commands, request).await
        };
        let view = self.item(&item).await.ok().flatten();
        let (title, owner) = view.map(|v| (v.title, v.owner)).unwrap_or_default();
        let here = self.login.library.as_str();
        let (ok, alert, destination, words) = match outcome {
            Ok(response) => {
                let payloads: Vec<&Payload> =
                    receipt_payloads(response.get_ref().receipt.as_ref()).collect();
                let ready_here = payloads
                    .iter()
                    .any(|p| matches!(p, Payload::HoldReady(e) if e.pickup_library == here));
                let trapped = payloads.iter().find_map(|p| match p {
                    Payload::HoldAssigned(e) => Some(e.pickup_library.clone()),
                    _ => None,
                });
                let homebound = payloads
                    .iter()
                    .any(|p| matches!(p, Payload::ItemReturned(e) if e.homebound));
                if ready_here {
                    (
                        true,
                        "01",
                        String::new(),
                        "hold for a patron: put it on the hold shelf".to_owned(),
                    )
                } else if let Some(pickup) = trapped {
                    let words = format!("hold for a patron at {pickup}: send it to {pickup}");
                    (true, "02", pickup, words)
                } else if homebound {
                    let words = format!("send it home to {owner}");
                    (true, "04", owner.clone(), words)
                } else {
                    (true, "", String::new(), "returned, thank you".to_owned())
                }
            }
            Err(status) => (false, "", String::new(), status.message().to_owned()),
        };
        let command = command_id.to_string();
        let mut fields = vec![
            ("AO", self.library()),
            ("AB", item),
            ("AQ", owner),
            ("AJ", title),
            ("AF", screen(&words)),
            ("BK", command),
        ];
        if !alert.is_empty() {
            fields.push(("CV", alert.to_owned()));
        }
        if !destination.is_empty() {
            fields.push(("CT", destination));
        }
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(c, v)| (*c, v.as_str())).collect();
        self.build(
            "10",
            &[
                one_zero(ok),
                yes_no(ok && alert.is_empty()),
                "U",
                yes_no(!alert.is_empty()),
                &self.now(),
            ],
            &pairs,
        )
    }

    /// One renewal as its gRPC twin: the new due date, or the refusal's words.
    async fn renew_one(&self, item: &str, command_id: Uuid) -> Result<String, String> {
        let request = self.request(pb::RenewRequest {
            command_id: command_id.to_string(),
            item: item.to_owned(),
            card: Some(self.card()),
            ..Default::default()
        });
        match CirculationService::renew(&self.sip2.commands, request).await {
            Ok(response) => Ok(receipt_payloads(response.get_ref().receipt.as_ref())
                .find_map(|p| match p {
                    Payload::ItemRenewed(e) => Some(e.due_at_us),
                    _ => None,
                })
                .and_then(DateTime::<Utc>::from_timestamp_micros)
                .map(|at| sip_date(at, self.login.time_zone))
                .unwrap_or_default()),
            Err(status) => Err(status.message().to_owned()),
        }
    }

    /// 29 → 30.
    async fn renew(&self) -> String {
        let item = self.field("AB").to_owned();
        let command_id = self.command_id();
        let outcome = self.renew_one(&item, command_id).await;
        let title = self.title(&item).await;
        let ok = outcome.is_ok();
        let (due, words) = match outcome {
            Ok(due) => {
                let words = format!("renewed, due {}", human_date(&due));
                (due, words)
            }
            Err(why) => (String::new(), why),
        };
        let command = command_id.to_string();
        let mut fields = vec![
            ("AO", self.library()),
            ("AA", self.field("AA").to_owned()),
            ("AB", item),
            ("AJ", title),
            ("AF", screen(&words)),
            ("BK", command),
        ];
        if ok {
            fields.push(("AH", due));
        }
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(c, v)| (*c, v.as_str())).collect();
        self.build(
            "30",
            &[one_zero(ok), yes_no(ok), "U", "U", &self.now()],
            &pairs,
        )
    }

    /// 65 → 66: each loan renewed by its own command (ids derived from the request's, so a
    /// resent renew-all renews nothing twice).
    async fn renew_all(&self) -> String {
        let command_id = self.command_id();
        let patron = self.patron().await;
        let Some(account) = patron.account.filter(|_| patron.valid) else {
            let words = if patron.screen.is_empty() {
                "no loans to renew".to_owned()
            } else {
                patron.screen
            };
            return self.build(
                "66",
                &["0", "0000", "0000", &self.now()],
                &[
                    ("AO", &self.library()),
                    ("AA", self.field("AA")),
                    ("AF", &screen(&words)),
                ],
            );
        };
        let (mut renewed, mut unrenewed) = (Vec::new(), Vec::new());
        let mut first_refusal = String::new();
        for loan in &account.loans {
            let id = Uuid::new_v5(&command_id, loan.item.as_bytes());
            match self.renew_one(&loan.item, id).await {
                Ok(_) => renewed.push(loan.item.clone()),
                Err(why) => {
                    if first_refusal.is_empty() {
                        first_refusal = why;
                    }
                    unrenewed.push(loan.item.clone());
                }
            }
        }
        let words = if unrenewed.is_empty() {
            format!("{} renewed", renewed.len())
        } else {
            format!(
                "{} renewed, {} not: {first_refusal}",
                renewed.len(),
                unrenewed.len()
            )
        };
        let mut fields: Vec<(&str, String)> = vec![
            ("AO", self.library()),
            ("AA", self.field("AA").to_owned()),
            ("AF", screen(&words)),
            ("BK", command_id.to_string()),
        ];
        fields.extend(renewed.iter().map(|i| ("BM", i.clone())));
        fields.extend(unrenewed.iter().map(|i| ("BN", i.clone())));
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(c, v)| (*c, v.as_str())).collect();
        self.build(
            "66",
            &[
                "1",
                &count4(renewed.len()),
                &count4(unrenewed.len()),
                &self.now(),
            ],
            &pairs,
        )
    }

    /// 37 → 38: a payment towards the patron's debt for a lost item (`CG`, the fee
    /// identifier, names the item; without it, the patron's first debt).
    async fn fee_paid(&self) -> String {
        let command_id = self.command_id();
        let outcome = self.pay(command_id).await;
        let (accepted, words) = match outcome {
            Ok(words) => (true, words),
            Err(why) => (false, why),
        };
        let transaction = match self.field("BK") {
            "" => command_id.to_string(),
            given => given.to_owned(),
        };
        self.build(
            "38",
            &[yes_no(accepted), &self.now()],
            &[
                ("AO", &self.library()),
                ("AA", self.field("AA")),
                ("BK", &transaction),
                ("AF", &screen(&words)),
            ],
        )
    }

    async fn pay(&self, command_id: Uuid) -> Result<String, String> {
        let amount_fen = fen(self.field("BV"))?;
        let currency = self.fixed(3);
        if currency != CURRENCY {
            // Kiosks and test clients send what they were built with (USD, blanks); the
            // amount is in the network's money whatever this field says (as Koha and
            // Evergreen treat it).
            tracing::info!(
                currency,
                "SIP2 fee paid names another currency; taken as CNY"
            );
        }
        let patron = self.patron().await;
        if !patron.valid {
            return Err(patron.screen);
        }
        let debts = patron.account.map(|a| a.debts).unwrap_or_default();
        let item = match self.field("CG") {
            "" => debts
                .first()
                .map(|d| d.item.clone())
                .ok_or_else(|| format!("patron {} owes nothing", patron.masked))?,
            named => {
                if !debts.iter().any(|d| d.item == named) {
                    return Err(format!(
                        "CG: patron {} owes nothing for item {}",
                        patron.masked,
                        quote(named)
                    ));
                }
                named.to_owned()
            }
        };
        let request = self.request(pb::PayLostItemRequest {
            command_id: command_id.to_string(),
            item: item.clone(),
            amount_fen,
            ..Default::default()
        });
        CirculationService::pay_lost_item(&self.sip2.commands, request)
            .await
            .map(|_| format!("paid {} {} for item {item}", CURRENCY, yuan(amount_fen)))
            .map_err(|status| status.message().to_owned())
    }

    /// 15 → 16: `+` places a hold (on the item `AB`, or the title whose ISBN is `AJ`) for
    /// pickup at `BS` or here; `-` cancels the patron's hold on it.
    async fn hold(&self) -> String {
        let command_id = self.command_id();
        let mode = self.fixed(0).to_owned();
        let item = self.field("AB").to_owned();
        let isbn = self.field("AJ").to_owned();
        let pickup = match self.field("BS") {
            "" => self.library(),
            named => named.to_owned(),
        };
        let outcome = match mode.as_str() {
            "+" => self.place_hold(command_id, &item, &isbn, &pickup).await,
            "-" => self.cancel_hold(command_id, &item, &isbn).await,
            other => Err(format!(
                "hold mode {}: only + (place) and - (cancel) are supported",
                quote(other)
            )),
        };
        let (ok, available, position, words) = match outcome {
            Ok((available, position, words)) => (true, available, position, words),
            Err(why) => (false, false, String::new(), why),
        };
        let mut fields = vec![
            ("AO", self.library()),
            ("AA", self.field("AA").to_owned()),
            ("BS", pickup),
            ("AF", screen(&words)),
            ("BK", command_id.to_string()),
        ];
        for (code, value) in [("AB", item), ("AJ", isbn), ("BR", position)] {
            if !value.is_empty() {
                fields.push((code, value));
            }
        }
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(c, v)| (*c, v.as_str())).collect();
        self.build(
            "16",
            &[one_zero(ok), yes_no(available), &self.now()],
            &pairs,
        )
    }

    async fn place_hold(
        &self,
        command_id: Uuid,
        item: &str,
        isbn: &str,
        pickup: &str,
    ) -> Result<(bool, String, String), String> {
        let wanted = if !item.is_empty() {
            pb::HoldWanted {
                item: item.to_owned(),
                ..Default::default()
            }
        } else if !isbn.is_empty() {
            pb::HoldWanted {
                isbn: isbn.to_owned(),
                ..Default::default()
            }
        } else {
            return Err("AB (an item) or AJ (an ISBN) names what to hold".to_owned());
        };
        let request = self.request(pb::PlaceHoldRequest {
            command_id: command_id.to_string(),
            card: Some(self.card()),
            wanted: Some(wanted),
            pickup_library: pickup.to_owned(),
            ..Default::default()
        });
        let response = HoldService::place_hold(&self.sip2.commands, request)
            .await
            .map_err(|status| status.message().to_owned())?
            .into_inner();
        let ready =
            receipt_payloads(response.receipt.as_ref()).any(|p| matches!(p, Payload::HoldReady(_)));
        let position = self
            .patron()
            .await
            .account
            .and_then(|a| a.holds.into_iter().find(|h| h.hold == response.hold))
            .filter(|h| h.queue_position > 0)
            .map(|h| h.queue_position.to_string())
            .unwrap_or_default();
        let words = if ready {
            format!(
                "hold {}: ready on the hold shelf at {pickup}",
                response.hold
            )
        } else if position.is_empty() {
            format!("hold {}: a copy is on its way to {pickup}", response.hold)
        } else {
            format!("hold {}: number {position} in the queue", response.hold)
        };
        Ok((ready, position, words))
    }

    async fn cancel_hold(
        &self,
        command_id: Uuid,
        item: &str,
        isbn: &str,
    ) -> Result<(bool, String, String), String> {
        let patron = self.patron().await;
        let hold = patron
            .account
            .into_iter()
            .flat_map(|a| a.holds)
            .find(|h| {
                (!item.is_empty() && (h.item_asked == item || h.item == item))
                    || (!isbn.is_empty() && h.title_key == isbn)
            })
            .ok_or_else(|| {
                format!(
                    "patron {} has no open hold on {}",
                    patron.masked,
                    if item.is_empty() { isbn } else { item }
                )
            })?;
        let request = self.request(pb::CancelHoldRequest {
            command_id: command_id.to_string(),
            hold: hold.hold,
            card: Some(self.card()),
            ..Default::default()
        });
        HoldService::cancel_hold(&self.sip2.commands, request)
            .await
            .map_err(|status| status.message().to_owned())?;
        Ok((
            false,
            String::new(),
            format!("hold {} cancelled", hold.hold),
        ))
    }

    /// 35 → 36: nothing to close on the ledger's side; the kiosk forgets the patron.
    fn end_patron_session(&self) -> String {
        self.build(
            "36",
            &["Y", &self.now()],
            &[("AO", &self.library()), ("AA", self.field("AA"))],
        )
    }
}

/// SIP2's fourteen patron status flags: charge and renewal privileges denied when blocked,
/// too many items charged at the loan limit, too many overdue or lost, excessive fees.
fn patron_status(patron: &PatronView) -> String {
    let mut flags = [' '; 14];
    if !patron.valid {
        flags[0] = 'Y';
        flags[1] = 'Y';
        flags[3] = 'Y';
    }
    if let Some(account) = &patron.account {
        if account.blocked {
            flags[0] = 'Y';
            flags[1] = 'Y';
        }
        match account.block_reason() {
            pb::BlockReason::Overdue => flags[6] = 'Y',
            pb::BlockReason::LostItemUnpaid => {
                flags[9] = 'Y';
                flags[11] = 'Y';
            }
            pb::BlockReason::Unspecified => {}
        }
        if account.loans.len() >= account.loan_limit as usize {
            flags[0] = 'Y';
            flags[5] = 'Y';
        }
    }
    flags.iter().collect()
}

/// The payloads of a receipt's events.
fn receipt_payloads(receipt: Option<&pb::CommandReceipt>) -> impl Iterator<Item = &Payload> {
    receipt
        .into_iter()
        .flat_map(|r| &r.events)
        .filter_map(|e| e.event.as_ref()?.payload.as_ref())
}

/// A SIP2 date: `YYYYMMDDZZZZHHMMSS`, local time of the library (four blanks for the zone, as
/// SIP2 writes local time).
pub fn sip_date(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y%m%d    %H%M%S").to_string()
}

/// `YYYY-MM-DD` of a SIP2 date, for screen messages.
fn human_date(sip: &str) -> String {
    match (sip.get(0..4), sip.get(4..6), sip.get(6..8)) {
        (Some(y), Some(m), Some(d)) => format!("{y}-{m}-{d}"),
        _ => sip.to_owned(),
    }
}

/// A rule's message made short enough for a kiosk's screen: up to [`SCREEN_CHARS`]
/// characters, cut at a word.
pub fn screen(message: &str) -> String {
    let message = message.trim();
    if message.chars().count() <= SCREEN_CHARS {
        return message.to_owned();
    }
    let cut: String = message.chars().take(SCREEN_CHARS - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > SCREEN_CHARS / 2 => &cut[..space],
        _ => &cut,
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':', ' ']))
}

/// Fen as yuan with two decimals, as SIP2 amounts are written.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02}", fen / 100, fen % 100)
}

/// A SIP2 amount (`25`, `25.5`, `25.00`) in fen; no floats, at most two decimals.
pub fn fen(amount: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "BV: {} is not an amount in yuan (e.g. 25.00)",
            quote(amount)
        )
    };
    let (whole, cents) = match amount.split_once('.') {
        Some((whole, cents)) => (whole, cents),
        None => (amount, ""),
    };
    if whole.is_empty()
        || whole.len() > 12
        || cents.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !cents.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{cents:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or_else(bad)
}

fn count4(n: usize) -> String {
    format!("{:04}", n.min(9999))
}

fn yes_no(value: bool) -> &'static str {
    if value { "Y" } else { "N" }
}

fn one_zero(value: bool) -> &'static str {
    if value { "1" } else { "0" }
}

/// A client's text in a log line or message: at most 32 characters, debug-quoted.
fn quote(value: &str) -> String {
    let shown: String = value.chars().take(32).collect();
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_fen_without_floats() {
        assert_eq!(fen("25.00"), Ok(2500));
        assert_eq!(fen("25"), Ok(2500));
        assert_eq!(fen("25.5"), Ok(2550));
        assert_eq!(fen("0.01"), Ok(1));
        for bad in ["", "-1", "1.234", "1e3", "abc", ".5", "9999999999999"] {
            assert!(fen(bad).is_err(), "{bad}");
        }
        assert_eq!(yuan(2550), "25.50");
        assert_eq!(yuan(7), "0.07");
    }

    #[test]
    fn screen_messages_are_cut_at_a_word() {
        assert_eq!(screen("short"), "short");
        let long = "patron jinan:****1234 is blocked: item JN-000002 was due 2026-11-02 and is \
                    overdue by more than 30 days, and more words follow to make it long";
        let cut = screen(long);
        assert!(cut.chars().count() <= SCREEN_CHARS, "{cut}");
        assert!(cut.starts_with("patron jinan:****1234 is blocked"));
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn dates_are_local_to_the_library() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T16:30:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            sip_date(at, chrono_tz::Asia::Shanghai),
            "20261208    003005"
        );
    }
}
