//! The network the stories happen in: Jinan and Zibo, five libraries, a few books.

use readnet_proto::v1::LibraryTier;
use tempfile::TempDir;

use crate::client::Net;
use crate::server::TestServer;

pub const JINAN: &str = "jinan";
pub const ZIBO: &str = "zibo";
/// 济南市图书馆, central library of Jinan.
pub const JN_CENTRAL: &str = "JN-CENTRAL";
/// 历下区图书馆第三分馆, a branch in Jinan.
pub const JN_LIXIA: &str = "JN-LIXIA-03";
/// 泉城广场漂流书巢, a book-exchange booth in Jinan.
pub const JN_BOOTH: &str = "JN-BOOTH-01";
/// 淄博市图书馆, central library of Zibo.
pub const ZB_CENTRAL: &str = "ZB-CENTRAL";
/// 周村区图书馆分馆, a branch in Zibo.
pub const ZB_ZHOUCUN: &str = "ZB-ZHOUCUN-07";

/// Books owned by JN-CENTRAL, on the shelf there.
pub const JN_BOOKS: [&str; 3] = ["JN-000001", "JN-000002", "JN-000003"];
/// Books owned by ZB-CENTRAL, on the shelf there.
pub const ZB_BOOKS: [&str; 3] = ["ZB-000001", "ZB-000002", "ZB-000003"];
/// Books owned by ZB-ZHOUCUN-07, on the shelf there.
pub const ZHOUCUN_BOOKS: [&str; 2] = ["ZC-000001", "ZC-000002"];

/// A server on a data directory of its own, and clients connected to it. Dropping it kills the
/// server, then removes the directory.
pub struct Fixture {
    pub server: TestServer,
    pub net: Net,
    // Declared last: dropped after the server is dead.
    _dir: TempDir,
}

impl Fixture {
    /// A server on an empty data directory: no network yet.
    pub async fn start() -> Fixture {
        Fixture::start_with_args(&[]).await
    }

    /// [`Fixture::start`] with further `readnet serve` flags.
    pub async fn start_with_args(args: &[&str]) -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("readnet-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let server = TestServer::start_with_args(&dir.path().join("data"), args);
        let net = Net::connect(&server.url(), Some(&server.admin_token())).await;
        Fixture {
            server,
            net,
            _dir: dir,
        }
    }

    /// SIGKILL, then a new server on the same data directory, and new clients.
    pub async fn crash_and_restart(&mut self) {
        self.server.crash_and_restart();
        self.net = Net::connect(&self.server.url(), Some(&self.server.admin_token())).await;
    }

    /// SIGKILL, then a new server on the same data directory with more `readnet serve` flags,
    /// and new clients.
    pub async fn restart_with(&mut self, flags: &[&str]) {
        self.server.restart_with(flags);
        self.net = Net::connect(&self.server.url(), Some(&self.server.admin_token())).await;
    }
}

/// A server with the Jinan–Zibo network set up: cities jinan and zibo; libraries JN-CENTRAL
/// (central), JN-LIXIA-03 (branch), JN-BOOTH-01 (booth), ZB-CENTRAL (central), ZB-ZHOUCUN-07
/// (branch); return policy return_home everywhere (the default); the books of [`JN_BOOKS`],
/// [`ZB_BOOKS`] and [`ZHOUCUN_BOOKS`] on their owners' shelves.
pub async fn network_jinan_zibo() -> Fixture {
    network_jinan_zibo_with(&[]).await
}

/// [`network_jinan_zibo`] on a server started with more `readnet serve` flags.
pub async fn network_jinan_zibo_with(args: &[&str]) -> Fixture {
    let fixture = Fixture::start_with_args(args).await;
    let system = fixture.net.system();
    system
        .join_city(JINAN, "济南")
        .await
        .expect("JoinCity jinan");
    system.join_city(ZIBO, "淄博").await.expect("JoinCity zibo");
    for (library, city, tier, parent) in [
        (JN_CENTRAL, JINAN, LibraryTier::Central, ""),
        (JN_LIXIA, JINAN, LibraryTier::Branch, JN_CENTRAL),
        (JN_BOOTH, JINAN, LibraryTier::Booth, JN_CENTRAL),
        (ZB_CENTRAL, ZIBO, LibraryTier::Central, ""),
        (ZB_ZHOUCUN, ZIBO, LibraryTier::Branch, ZB_CENTRAL),
    ] {
        system
            .register_library(library, city, tier, parent)
            .await
            .unwrap_or_else(|s| panic!("RegisterLibrary {library}: {s:?}"));
    }
    for (books, owner) in [
        (&JN_BOOKS[..], JN_CENTRAL),
        (&ZB_BOOKS[..], ZB_CENTRAL),
        (&ZHOUCUN_BOOKS[..], ZB_ZHOUCUN),
    ] {
        let desk = fixture.net.at(owner);
        for item in books {
            desk.catalogue(item, owner)
                .await
                .unwrap_or_else(|s| panic!("CatalogueItem {item}: {s:?}"));
        }
    }
    fixture
}
