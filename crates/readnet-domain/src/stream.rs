use std::fmt;

/// The stream an event belongs in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamId {
    /// Cities, libraries, policies, tariffs: `network`.
    Network,
    /// One item's history: `item-<item id>`.
    Item(String),
    /// One patron's enrolment and tier: `patron-<patron id>`.
    Patron(String),
    /// Closed settlement periods: `settlement`.
    Settlement,
    /// The refusal of one command: `refusal-<command id>`, holding its one `CommandRefused`
    /// (ADR 0010). Not a fact about the network: the projections pass over it.
    Refusal(String),
}

impl StreamId {
    pub const NETWORK: &'static str = "network";
    pub const SETTLEMENT: &'static str = "settlement";
    pub const ITEM_PREFIX: &'static str = "item-";
    pub const PATRON_PREFIX: &'static str = "patron-";
    pub const REFUSAL_PREFIX: &'static str = "refusal-";

    /// The stream's name in the store.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The ledger stream of this name, if it is one (see [`StreamId::is_ledger_stream`]).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            Self::NETWORK => Some(StreamId::Network),
            Self::SETTLEMENT => Some(StreamId::Settlement),
            _ => name
                .strip_prefix(Self::ITEM_PREFIX)
                .map(|item| StreamId::Item(item.to_owned()))
                .or_else(|| {
                    name.strip_prefix(Self::PATRON_PREFIX)
                        .map(|patron| StreamId::Patron(patron.to_owned()))
                })
                .or_else(|| {
                    name.strip_prefix(Self::REFUSAL_PREFIX)
                        .map(|command| StreamId::Refusal(command.to_owned()))
                }),
        }
    }

    /// Whether a stream of this name is one of the ledger's: written only by readnet's own
    /// commands, through the rules. Other streams in the store (written through the KurrentDB
    /// endpoint) are not the ledger's; the write model and every projection pass over them.
    pub fn is_ledger_stream(name: &str) -> bool {
        name == Self::NETWORK
            || name == Self::SETTLEMENT
            || name.starts_with(Self::ITEM_PREFIX)
            || name.starts_with(Self::PATRON_PREFIX)
            || name.starts_with(Self::REFUSAL_PREFIX)
    }

    /// Whether a stream of this name holds facts about the network: every ledger stream but a
    /// refusal's. The projections fold these and pass over the rest, so a refused command
    /// changes no read model (ADR 0010).
    pub fn holds_facts(name: &str) -> bool {
        Self::is_ledger_stream(name) && !name.starts_with(Self::REFUSAL_PREFIX)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamId::Network => f.write_str(Self::NETWORK),
            StreamId::Item(item) => write!(f, "{}{item}", Self::ITEM_PREFIX),
            StreamId::Patron(patron) => write!(f, "{}{patron}", Self::PATRON_PREFIX),
            StreamId::Settlement => f.write_str(Self::SETTLEMENT),
            StreamId::Refusal(command) => write!(f, "{}{command}", Self::REFUSAL_PREFIX),
        }
    }
}
