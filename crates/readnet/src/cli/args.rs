//! The words the enum arguments take on the command line (kebab-case: `float-in-city`,
//! `self-service`), each turned into the protobuf enum its request carries.

use clap::ValueEnum;
use readnet_proto::v1::{
    self, Acquisition, ChargeKind, CreditTier, LibraryTier, ReturnPolicy, TransferReason,
};

/// The channel a command came through.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelArg {
    Desk,
    Kiosk,
    Booth,
    App,
    System,
}

impl From<ChannelArg> for v1::Channel {
    fn from(arg: ChannelArg) -> Self {
        match arg {
            ChannelArg::Desk => Self::Desk,
            ChannelArg::Kiosk => Self::Kiosk,
            ChannelArg::Booth => Self::Booth,
            ChannelArg::App => Self::App,
            ChannelArg::System => Self::System,
        }
    }
}

/// A library's tier in the network.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TierArg {
    Central,
    General,
    Branch,
    ServicePoint,
    SelfService,
    Booth,
}

impl From<TierArg> for LibraryTier {
    fn from(arg: TierArg) -> Self {
        match arg {
            TierArg::Central => Self::Central,
            TierArg::General => Self::General,
            TierArg::Branch => Self::Branch,
            TierArg::ServicePoint => Self::ServicePoint,
            TierArg::SelfService => Self::SelfService,
            TierArg::Booth => Self::Booth,
        }
    }
}

/// Where an item returned away from its owner goes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    ReturnHome,
    FloatInCity,
}

impl From<PolicyArg> for ReturnPolicy {
    fn from(arg: PolicyArg) -> Self {
        match arg {
            PolicyArg::ReturnHome => Self::ReturnHome,
            PolicyArg::FloatInCity => Self::FloatInCity,
        }
    }
}

/// A patron's credit tier.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CreditTierArg {
    Restricted,
    Standard,
    Trusted,
}

impl From<CreditTierArg> for CreditTier {
    fn from(arg: CreditTierArg) -> Self {
        match arg {
            CreditTierArg::Restricted => Self::Restricted,
            CreditTierArg::Standard => Self::Standard,
            CreditTierArg::Trusted => Self::Trusted,
        }
    }
}

/// Why an item travels.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReasonArg {
    Repatriation,
    Hold,
    Rebalance,
}

impl From<ReasonArg> for TransferReason {
    fn from(arg: ReasonArg) -> Self {
        match arg {
            ReasonArg::Repatriation => Self::Repatriation,
            ReasonArg::Hold => Self::Hold,
            ReasonArg::Rebalance => Self::Rebalance,
        }
    }
}

/// A settlement charge.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChargeKindArg {
    Loan,
    Return,
    Shipping,
    Lost,
    Digital,
}

impl From<ChargeKindArg> for ChargeKind {
    fn from(arg: ChargeKindArg) -> Self {
        match arg {
            ChargeKindArg::Loan => Self::Loan,
            ChargeKindArg::Return => Self::Return,
            ChargeKindArg::Shipping => Self::Shipping,
            ChargeKindArg::Lost => Self::Lost,
            ChargeKindArg::Digital => Self::Digital,
        }
    }
}

/// What kind of e-resource a licence is for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EResourceKindArg {
    Ebook,
    Database,
    OpenAccess,
}

impl From<EResourceKindArg> for readnet_proto::v1::EResourceKind {
    fn from(arg: EResourceKindArg) -> Self {
        match arg {
            EResourceKindArg::Ebook => Self::Ebook,
            EResourceKindArg::Database => Self::Database,
            EResourceKindArg::OpenAccess => Self::OpenAccess,
        }
    }
}

/// How a catalogued item came in (booth deposits and patron-driven books have commands of their own).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AcquisitionArg {
    Purchase,
    Donation,
}

impl From<AcquisitionArg> for Acquisition {
    fn from(arg: AcquisitionArg) -> Self {
        match arg {
            AcquisitionArg::Purchase => Self::Purchase,
            AcquisitionArg::Donation => Self::Donation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, parse};
    use crate::client::Call;

    #[test]
    fn enums_are_kebab_case_words() {
        let cli = parse(&[
            "set-return-policy",
            "ZB-ZHOUCUN-07",
            "--policy",
            "float-in-city",
        ])
        .unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let Call::SetReturnPolicy(request) = command.into_request().1 else {
            panic!("not set-return-policy")
        };
        assert_eq!(request.policy(), ReturnPolicy::FloatInCity);

        let cli = parse(&[
            "register-library",
            "JN-QUANCHENG-24H",
            "--name",
            "泉城24小时",
            "--city",
            "jinan",
            "--tier",
            "self-service",
        ])
        .unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let Call::RegisterLibrary(request) = command.into_request().1 else {
            panic!("not register-library")
        };
        assert_eq!(request.tier(), LibraryTier::SelfService);
    }

    #[test]
    fn bad_card_and_bad_enum_are_usage_errors() {
        let error = parse(&["checkout", "ZB-0001", "--card", "370102000001"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let error = parse(&[
            "dispatch",
            "ZB-0001",
            "--to",
            "ZB-CENTRAL",
            "--reason",
            "holiday",
        ])
        .unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }
}

/// A principal's role, by the names the contract gives them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    NetworkAdmin,
    CityAdmin,
    Desk,
    Kiosk,
    Booth,
    SettlementClerk,
    Auditor,
    Analytics,
}

impl From<RoleArg> for v1::Role {
    fn from(arg: RoleArg) -> Self {
        match arg {
            RoleArg::NetworkAdmin => Self::NetworkAdmin,
            RoleArg::CityAdmin => Self::CityAdmin,
            RoleArg::Desk => Self::Desk,
            RoleArg::Kiosk => Self::Kiosk,
            RoleArg::Booth => Self::Booth,
            RoleArg::SettlementClerk => Self::SettlementClerk,
            RoleArg::Auditor => Self::Auditor,
            RoleArg::Analytics => Self::Analytics,
        }
    }
}
