//! The keeper task and the readers' handle on the tree it keeps.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use readnet_domain::{Clock, Payload};
use readnet_store::{AllFrom, Direction, EventStore, Position, SubscriptionMessage};
use readnet_tlog::{
    Checkpoint, EMPTY_ROOT, EntryTooLong, Hash, NoteSigner, NoteVerifier, ProofError, TILE_HEIGHT,
    TILE_WIDTH, TileBuilder, TileId, TileReader, TreeError, bundle_prefix, consistency_proof,
    inclusion_proof, leaf_bytes, leaf_hash, push_entry, subtree_root, tile_root,
};
use tokio::sync::watch;

use crate::checkpoints::{Files, Signed};
use crate::tiles::{Kept, TileDir, full_tiles};

/// Events hashed between two publications of the tree's edge while catching up.
const PUBLISH_EVERY: u64 = 4096;

/// What the keeper needs besides the store.
pub struct TreeOptions {
    /// Where the tree is kept: `DATA/tlog`.
    pub dir: PathBuf,
    /// The log's checkpoint key (its name is the checkpoints' origin).
    pub signer: NoteSigner,
    /// How often a checkpoint is signed while the tree grows; `None`: only on demand and at
    /// period closes.
    pub every: Option<Duration>,
    pub clock: Arc<dyn Clock>,
}

/// Why the tree cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the tree holds {have} events so far, not {size}")]
    NotYet { size: u64, have: u64 },
    #[error("tree size {size}: a tree of no events has no leaves to prove")]
    Empty { size: u64 },
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("the tree's files: {0}")]
    Io(#[from] std::io::Error),
    #[error("the tree is not kept any more: {0}")]
    Stopped(String),
}

/// The entry bundle being filled: the leaves since the last full level-0 tile.
#[derive(Default)]
struct OpenBundle {
    bytes: Vec<u8>,
    /// Set once an entry too long for a bundle is in it: why (and its bytes are dropped).
    too_long: Option<String>,
}

impl OpenBundle {
    fn push(&mut self, position: u64, leaf: &[u8]) {
        if self.too_long.is_some() {
            return;
        }
        if let Err(e) = push_entry(&mut self.bytes, leaf) {
            self.too_long = Some(too_long_note(position, e));
            self.bytes = Vec::new();
        }
    }

    /// Writes it as full bundle `index` (or its too-long note), and starts the next.
    fn finish(&mut self, tiles: &TileDir, index: u64) -> std::io::Result<()> {
        let bundle = std::mem::take(self);
        match bundle.too_long {
            Some(why) => tiles.write_too_long(index, &why),
            None => tiles.write_bundle(index, &bundle.bytes),
        }
    }
}

/// What is served for a bundle holding the leaf at `position`, too long for one.
fn too_long_note(position: u64, e: EntryTooLong) -> String {
    format!(
        "the leaf at position {position}: {e}; this bundle is not served: fetch its leaves with \
         AuditService.ProveInclusion (which also proves them)\n"
    )
}

/// An entry bundle as readers get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entries {
    Bundle(Vec<u8>),
    /// The tree has not reached it (or it is not written yet).
    NotReached,
    /// It holds an entry longer than a bundle can: why.
    TooLong(String),
}

/// The tree's right edge as last published: its size, each tile level's unfinished tile and the
/// unfinished entry bundle.
struct Edge {
    size: u64,
    open: Vec<Vec<u8>>,
    entries: Vec<u8>,
    entries_too_long: Option<String>,
}

impl Edge {
    fn of(builder: &TileBuilder, bundle: &OpenBundle) -> Edge {
        let open = (0..8)
            .map(|level| {
                builder
                    .partial(level)
                    .map_or(Vec::new(), |(_, hashes)| hashes.concat())
            })
            .collect();
        Edge {
            size: builder.size(),
            open,
            entries: bundle.bytes.clone(),
            entries_too_long: bundle.too_long.clone(),
        }
    }

    /// Entry bundle `tile` (a level-0 tile's id): a prefix of a full bundle, or of the
    /// unfinished one.
    fn entries(&self, tiles: &TileDir, tile: &TileId) -> std::io::Result<Entries> {
        let full = full_tiles(0, self.size);
        let (bytes, too_long) = if tile.index < full {
            match tiles.read_bundle(tile.index)? {
                Kept::Bundle(bytes) => (bytes, None),
                Kept::TooLong(why) => (Vec::new(), Some(why)),
                Kept::Missing => return Ok(Entries::NotReached),
            }
        } else if tile.index == full && tile.width <= self.size % TILE_WIDTH {
            (self.entries.clone(), self.entries_too_long.clone())
        } else {
            return Ok(Entries::NotReached);
        };
        if let Some(why) = too_long {
            return Ok(Entries::TooLong(why));
        }
        Ok(match bundle_prefix(&bytes, tile.width) {
            Some(prefix) => Entries::Bundle(prefix.to_vec()),
            None => Entries::NotReached,
        })
    }

    /// The bytes of `tile` (a prefix of a full tile, or of the unfinished one).
    fn tile(&self, tiles: &TileDir, tile: &TileId) -> Result<Vec<u8>, String> {
        let full = full_tiles(tile.level, self.size);
        let mut bytes = if tile.index < full {
            tiles
                .read(tile.level, tile.index)
                .map_err(|e| format!("{}: {e}", tile.path()))?
                .ok_or_else(|| format!("{} is missing or short", tile.path()))?
        } else if tile.index == full {
            self.open
                .get(tile.level as usize)
                .cloned()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let want = tile.width as usize * 32;
        if bytes.len() < want {
            return Err(format!(
                "the tree of {} events has no tile {}",
                self.size,
                tile.path()
            ));
        }
        bytes.truncate(want);
        Ok(bytes)
    }
}

struct Shared {
    tiles: TileDir,
    files: Files,
    signer: NoteSigner,
    verifier: NoteVerifier,
    clock: Arc<dyn Clock>,
    edge: RwLock<Arc<Edge>>,
    size: watch::Sender<u64>,
    stopped: Mutex<Option<String>>,
    latest: Mutex<Option<Signed>>,
    signing: tokio::sync::Mutex<()>,
}

/// The tree the keeper keeps, for readers: cheap to clone.
#[derive(Clone)]
pub struct Tree {
    shared: Arc<Shared>,
}

/// Starts keeping the tree of `store`'s log in `options.dir`: resumes from the tiles there,
/// then follows the log until the store closes. Returns once the tree is resumed.
pub async fn keep(store: Arc<dyn EventStore>, options: TreeOptions) -> anyhow::Result<Tree> {
    let tiles = TileDir::new(&options.dir);
    let builder = resume(store.as_ref(), &tiles, &options.dir).await?;
    tracing::info!(
        size = builder.size(),
        dir = %options.dir.display(),
        "the log's tree resumed from its tiles"
    );
    let verifier = NoteVerifier::from_text(&options.signer.verifier_text())?;
    let files = Files::new(&options.dir);
    let latest = match files.latest()? {
        Some(note) => match verifier.open_checkpoint(&note) {
            Ok(checkpoint) => Some(Signed { note, checkpoint }),
            Err(e) => {
                tracing::warn!(error = %e, "the latest checkpoint on disk does not verify with this key; a new one is signed");
                None
            }
        },
        None => None,
    };
    let (size, _) = watch::channel(builder.size());
    let shared = Arc::new(Shared {
        tiles,
        files,
        signer: options.signer,
        verifier,
        clock: options.clock,
        edge: RwLock::new(Arc::new(Edge::of(&builder, &OpenBundle::default()))),
        size,
        stopped: Mutex::new(None),
        latest: Mutex::new(latest),
        signing: tokio::sync::Mutex::new(()),
    });
    let tree = Tree {
        shared: Arc::clone(&shared),
    };
    tokio::spawn(follow(store, tree.clone(), builder));
    if let Some(every) = options.every {
        tokio::spawn(sign_every(Arc::downgrade(&shared), every));
    }
    Ok(tree)
}

fn hashes_of(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect()
}

/// The builder of the tree kept in `tiles`, checked against the log: from the full tiles on
/// disk, the last of them hashed again from the log. Tiles that do not match the log are moved
/// aside and the tree starts again from nothing.
async fn resume(
    store: &dyn EventStore,
    tiles: &TileDir,
    dir: &std::path::Path,
) -> anyhow::Result<TileBuilder> {
    let full = tiles.count(0)?;
    let size = full * TILE_WIDTH;
    let head = store.head_position().get();
    let matches = if full == 0 {
        true
    } else if size > head {
        tracing::error!(
            tree = size,
            log = head,
            "the tree's tiles cover more events than the log holds"
        );
        false
    } else {
        let first = Position::new(size - TILE_WIDTH + 1);
        let page = store
            .read_all(
                AllFrom::Position(first),
                Direction::Forwards,
                TILE_WIDTH as usize,
            )
            .await?;
        let mut bytes = Vec::new();
        let rehashed: Vec<u8> = page
            .iter()
            .flat_map(|event| {
                bytes.clear();
                leaf_bytes(event, &mut bytes);
                leaf_hash(&bytes)
            })
            .collect();
        let kept = tiles.read(0, full - 1)?;
        let same = kept.as_deref() == Some(rehashed.as_slice());
        if !same {
            tracing::error!(
                tile = full - 1,
                "the tree's last full tile does not match the log"
            );
        }
        same
    };
    if !matches {
        let aside = dir.join(format!(
            "tile.stale-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        ));
        std::fs::rename(tiles.root().join("tile"), &aside)?;
        tracing::error!(
            aside = %aside.display(),
            "tiles that are not this log's were moved aside; the tree is built again from the \
             log, and checkpoints signed before may not be consistent with the new ones"
        );
        return Ok(TileBuilder::new());
    }
    // Levels above 0: the last full tile a crash may have left unwritten is made again, and the
    // unfinished tile is the roots of the full tiles below it not yet in a full tile.
    let mut open = vec![Vec::new()];
    for level in 1.. {
        let nodes = if level * TILE_HEIGHT >= 64 {
            0
        } else {
            size >> (level * TILE_HEIGHT)
        };
        if nodes == 0 {
            break;
        }
        let below = |index: u64| -> anyhow::Result<Hash> {
            let bytes = tiles.read(level - 1, index)?.ok_or_else(|| {
                anyhow::anyhow!("tile {} of level {} is missing or short", index, level - 1)
            })?;
            Ok(tile_root(&hashes_of(&bytes)))
        };
        let full = nodes / TILE_WIDTH;
        if full > 0 && tiles.read(level, full - 1)?.is_none() {
            let hashes = ((full - 1) * TILE_WIDTH..full * TILE_WIDTH)
                .map(below)
                .collect::<anyhow::Result<Vec<_>>>()?;
            tiles.write(level, full - 1, &hashes)?;
        }
        open.push(
            (full * TILE_WIDTH..nodes)
                .map(below)
                .collect::<anyhow::Result<Vec<_>>>()?,
        );
    }
    Ok(TileBuilder::resume(size, open)?)
}

/// Follows the log from the tree's size: hashes each event, writes full tiles, publishes the
/// edge when no event is waiting (or every [`PUBLISH_EVERY`] while catching up), and signs a
/// period's checkpoint when its close goes by.
async fn follow(store: Arc<dyn EventStore>, tree: Tree, mut builder: TileBuilder) {
    let shared = &tree.shared;
    let mut bundle = OpenBundle::default();
    if let Err(e) = backfill(store.as_ref(), &shared.tiles, builder.size()).await {
        tracing::error!(error = %e, "the entry bundles of the tree's full tiles could not be made");
    }
    let mut subscription = store.subscribe_all(Position::new(builder.size()));
    let (mut bytes, mut unpublished) = (Vec::new(), 0u64);
    let mut closes: Vec<(String, u64)> = Vec::new();
    let stop = |reason: String| {
        tracing::error!(%reason, "the log's tree is not kept any more");
        *shared.stopped.lock().expect("stopped lock") = Some(reason);
        shared.size.send_modify(|_| {});
    };
    loop {
        let next = match subscription.next().now_or_never() {
            Some(next) => next,
            None => {
                if unpublished > 0 {
                    tree.publish(&builder, &bundle, &mut closes);
                    unpublished = 0;
                }
                subscription.next().await
            }
        };
        let event = match next {
            None => break,
            Some(Err(e)) => return stop(format!("reading the log: {e}")),
            Some(Ok(SubscriptionMessage::CaughtUp { position })) => {
                tracing::info!(position = position.get(), "the log's tree caught up");
                continue;
            }
            Some(Ok(SubscriptionMessage::Event(event))) => event,
        };
        if event.position.get() != builder.size() + 1 {
            return stop(format!(
                "the log went from position {} to {}",
                builder.size(),
                event.position.get()
            ));
        }
        bytes.clear();
        leaf_bytes(&event, &mut bytes);
        bundle.push(event.position.get(), &bytes);
        let mut failed = None;
        builder.push(leaf_hash(&bytes), |tile, hashes| {
            if failed.is_none() {
                failed = shared.tiles.write(tile.level, tile.index, hashes).err();
            }
        });
        if let Some(e) = failed {
            return stop(format!("writing a tile: {e}"));
        }
        if builder.size().is_multiple_of(TILE_WIDTH)
            && let Err(e) = bundle.finish(&shared.tiles, builder.size() / TILE_WIDTH - 1)
        {
            return stop(format!("writing an entry bundle: {e}"));
        }
        if event.event_type == "SettlementPeriodClosed" {
            match readnet_ledger::envelope::decode(&event) {
                Ok(decoded) => {
                    if let Payload::SettlementPeriodClosed(closed) = decoded.payload {
                        closes.push((closed.period, closed.through_position));
                    }
                }
                Err(e) => return stop(e.to_string()),
            }
        }
        unpublished += 1;
        if unpublished >= PUBLISH_EVERY {
            tree.publish(&builder, &bundle, &mut closes);
            unpublished = 0;
        }
    }
    if unpublished > 0 {
        tree.publish(&builder, &bundle, &mut closes);
    }
    tracing::debug!("the store closed: the log's tree stops here");
}

/// Makes the entry bundles of the first `size` events (whole level-0 tiles) that are not kept
/// yet, from the log: after a crash between a tile and its bundle, and once for a tree kept
/// before bundles were.
async fn backfill(store: &dyn EventStore, tiles: &TileDir, size: u64) -> anyhow::Result<()> {
    let (kept, full) = (tiles.bundle_count()?, size / TILE_WIDTH);
    if kept < full {
        tracing::info!(
            from = kept,
            to = full,
            "making the entry bundles not kept yet"
        );
    }
    let mut bytes = Vec::new();
    for index in kept..full {
        let first = Position::new(index * TILE_WIDTH + 1);
        let page = store
            .read_all(
                AllFrom::Position(first),
                Direction::Forwards,
                TILE_WIDTH as usize,
            )
            .await?;
        anyhow::ensure!(
            page.len() == TILE_WIDTH as usize && page[0].position == first,
            "the log does not hold positions {first}.. whole"
        );
        let mut bundle = OpenBundle::default();
        for event in &page {
            bytes.clear();
            leaf_bytes(event, &mut bytes);
            bundle.push(event.position.get(), &bytes);
        }
        bundle.finish(tiles, index)?;
    }
    Ok(())
}

/// Signs a checkpoint every `every` while the tree grows, until the tree is dropped.
async fn sign_every(shared: Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let tree = Tree { shared };
        let size = tree.size();
        let signed = tree.latest().map_or(0, |s| s.checkpoint.size);
        if size > signed
            && let Err(e) = tree.sign(size).await
        {
            tracing::warn!(error = %e, "a checkpoint could not be signed");
        }
    }
}

impl Tree {
    fn publish(&self, builder: &TileBuilder, bundle: &OpenBundle, closes: &mut Vec<(String, u64)>) {
        *self.shared.edge.write().expect("edge lock") = Arc::new(Edge::of(builder, bundle));
        // A period's checkpoint is kept before readers learn the size that passed its close.
        for (period, through) in closes.drain(..) {
            match self.sign_period(&period, through) {
                Ok(true) => tracing::info!(%period, through, "a closed period's checkpoint signed"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(%period, error = %e, "a closed period's checkpoint could not be kept")
                }
            }
        }
        self.shared.size.send_replace(builder.size());
    }

    /// Events in the tree so far.
    pub fn size(&self) -> u64 {
        *self.shared.size.borrow()
    }

    /// Why the tree is not kept any more, if it is not.
    pub fn stopped(&self) -> Option<String> {
        self.shared.stopped.lock().expect("stopped lock").clone()
    }

    /// Waits until the tree holds `size` events, at most `timeout`.
    pub async fn reach(&self, size: u64, timeout: Duration) -> Result<(), AuditError> {
        let mut sizes = self.shared.size.subscribe();
        let reached = tokio::time::timeout(timeout, async {
            loop {
                if let Some(reason) = self.stopped() {
                    return Err(AuditError::Stopped(reason));
                }
                if *sizes.borrow_and_update() >= size {
                    return Ok(());
                }
                if sizes.changed().await.is_err() {
                    return Err(AuditError::Stopped("the keeper ended".to_owned()));
                }
            }
        })
        .await;
        reached.unwrap_or_else(|_| {
            Err(AuditError::NotYet {
                size,
                have: self.size(),
            })
        })
    }

    // The reader's closure type has no name a type alias could give it.
    #[allow(clippy::type_complexity)]
    fn source(
        &self,
        size: u64,
    ) -> Result<TileReader<impl Fn(&TileId) -> Result<Vec<u8>, String>>, AuditError> {
        let edge = Arc::clone(&self.shared.edge.read().expect("edge lock"));
        if size > edge.size {
            return Err(AuditError::NotYet {
                size,
                have: edge.size,
            });
        }
        let tiles = self.shared.tiles.clone();
        Ok(TileReader::new(size, move |tile: &TileId| {
            edge.tile(&tiles, tile)
        }))
    }

    /// The root of the first `size` events.
    pub fn root(&self, size: u64) -> Result<Hash, AuditError> {
        if size == 0 {
            return Ok(EMPTY_ROOT);
        }
        Ok(subtree_root(&self.source(size)?, 0, size)?)
    }

    /// The inclusion proof of leaf `index` (position `index + 1`) in the tree of `size` events.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        if size == 0 {
            return Err(AuditError::Empty { size });
        }
        Ok(inclusion_proof(&self.source(size)?, index, size)?)
    }

    /// The consistency proof from the tree of `old` events to the tree of `new`.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
        if old > new {
            return Err(ProofError::SizesOutOfOrder { old, new }.into());
        }
        if old == 0 || old == new {
            // Nothing to prove: every tree extends the empty one, and a tree itself.
            self.source(new)?;
            return Ok(Vec::new());
        }
        Ok(consistency_proof(&self.source(new)?, old, new)?)
    }

    /// A tile's bytes as the C2SP tlog-tiles layout serves it (any width the tree has reached),
    /// or `None` when the tree has not reached it.
    pub fn tile(&self, tile: &TileId) -> Result<Option<Vec<u8>>, AuditError> {
        if tile.width == 0 || tile.width > TILE_WIDTH {
            return Ok(None);
        }
        let edge = Arc::clone(&self.shared.edge.read().expect("edge lock"));
        Ok(edge.tile(&self.shared.tiles, tile).ok())
    }

    /// The entry bundle beside level-0 tile `tile` (the C2SP tlog-tiles `tile/entries/` path),
    /// at any width the tree has reached.
    pub fn entries(&self, tile: &TileId) -> Result<Entries, AuditError> {
        if tile.level != 0 || tile.width == 0 || tile.width > TILE_WIDTH {
            return Ok(Entries::NotReached);
        }
        let edge = Arc::clone(&self.shared.edge.read().expect("edge lock"));
        Ok(edge.entries(&self.shared.tiles, tile)?)
    }

    /// The latest checkpoint signed.
    pub fn latest(&self) -> Option<Signed> {
        self.shared.latest.lock().expect("latest lock").clone()
    }

    /// A closed period's checkpoint, if its close has gone by.
    pub fn period(&self, period: &str) -> Result<Option<Signed>, AuditError> {
        let Some(note) = self.shared.files.period(period)? else {
            return Ok(None);
        };
        let checkpoint = self
            .shared
            .verifier
            .open_checkpoint(&note)
            .map_err(|e| std::io::Error::other(format!("periods/{period}: {e}")))?;
        Ok(Some(Signed { note, checkpoint }))
    }

    fn signed(&self, size: u64) -> Result<Signed, AuditError> {
        let checkpoint = Checkpoint {
            origin: self.shared.signer.name().to_owned(),
            size,
            root: self.root(size)?,
            time: Some(self.shared.clock.now().timestamp()),
        };
        let note = self.shared.signer.sign(&checkpoint.body());
        Ok(Signed { note, checkpoint })
    }

    /// Signs and keeps a checkpoint of the first `size` events (at least the latest's size):
    /// the latest checkpoint when it already has that size.
    pub async fn sign(&self, size: u64) -> Result<Signed, AuditError> {
        let _one_at_a_time = self.shared.signing.lock().await;
        if let Some(latest) = self.latest().filter(|l| l.checkpoint.size >= size) {
            return Ok(latest);
        }
        let signed = self.signed(size)?;
        let (files, note) = (self.shared.files.clone(), signed.note.clone());
        tokio::task::spawn_blocking(move || files.keep_latest(&note))
            .await
            .map_err(std::io::Error::other)??;
        *self.shared.latest.lock().expect("latest lock") = Some(signed.clone());
        Ok(signed)
    }

    /// Signs and keeps a period's checkpoint at its `through_position`, unless it has one.
    fn sign_period(&self, period: &str, through: u64) -> Result<bool, AuditError> {
        if self.shared.files.period(period)?.is_some() {
            return Ok(false);
        }
        let signed = self.signed(through)?;
        Ok(self.shared.files.keep_period(period, &signed.note)?)
    }
}
