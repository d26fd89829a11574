//! `readnet tree`, offline and read-only: the log as a Merkle tree (RFC 6962; `readnet-tlog`).
//! Prints the tree head (size and root) of the whole log or of a prefix, and on request the
//! inclusion proof of one event and the consistency proof from an older tree head, so that an
//! auditor holding a head can check them with any RFC 6962 verifier.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use readnet_store::{AllFrom, Direction, EventStore, Position};
use readnet_tlog::{
    Hash, Levels, TILE_WIDTH, TileBuilder, TileId, consistency_proof, inclusion_proof, leaf_bytes,
    leaf_hash, tile_bytes, tiles_of,
};

/// Events read per page.
const PAGE: usize = 4096;

#[derive(Debug, Args)]
pub struct TreeArgs {
    /// The data directory (as given to `readnet serve`).
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// The tree of the first SIZE events (default: the whole log).
    #[arg(long, value_name = "SIZE")]
    size: Option<u64>,
    /// Also print the inclusion proof of the event at this position (its leaf is position − 1).
    #[arg(long, value_name = "POSITION")]
    prove: Option<u64>,
    /// Also print the consistency proof from the tree of the first OLD events.
    #[arg(long, value_name = "OLD")]
    since: Option<u64>,
    /// Write the tree's tiles (C2SP tlog-tiles: `DIR/tile/...`) for a static file server or
    /// mirror. Tiles already there are checked: a full tile never changes.
    #[arg(long, value_name = "DIR")]
    tiles: Option<PathBuf>,
}

/// A hash in lower-case hex, as the command prints it.
pub fn hex(hash: &Hash) -> String {
    ::hex::encode(hash)
}

/// Hands the leaf hash of each of the first `size` events of `store` to `each`, in order.
async fn leaves(
    store: &dyn EventStore,
    size: u64,
    mut each: impl FnMut(Hash),
) -> anyhow::Result<()> {
    let head = store.head_position().get();
    if size > head {
        bail!("the log holds {head} events, not {size}");
    }
    let (mut done, mut bytes, mut next) = (0u64, Vec::new(), Position::FIRST);
    while done < size {
        let page = store
            .read_all(AllFrom::Position(next), Direction::Forwards, PAGE)
            .await?;
        let Some(last) = page.last().map(|e| e.position) else {
            bail!("the log ended at {done} events, short of {size}");
        };
        for event in page.iter().take((size - done) as usize) {
            bytes.clear();
            leaf_bytes(event, &mut bytes);
            each(leaf_hash(&bytes));
            done += 1;
        }
        next = last.next();
    }
    Ok(())
}

/// The tree of the first `size` events of `store` (all of them when `None`), every node in
/// memory: for proofs.
pub async fn build(store: &dyn EventStore, size: Option<u64>) -> anyhow::Result<Levels> {
    let mut tree = Levels::new();
    let size = size.unwrap_or(store.head_position().get());
    leaves(store, size, |leaf| tree.push(leaf)).await?;
    Ok(tree)
}

/// The root of the first `size` events of `store` (all of them when `None`) and that size, in
/// bounded memory (the tree's right edge only).
pub async fn root(store: &dyn EventStore, size: Option<u64>) -> anyhow::Result<(u64, Hash)> {
    let size = size.unwrap_or(store.head_position().get());
    let (root, _) = roots(store, size, None).await?;
    Ok((size, root))
}

/// The roots of the first `size` events and, on the way, of the first `earlier` (at most
/// `size`), in one pass and bounded memory.
pub async fn roots(
    store: &dyn EventStore,
    size: u64,
    earlier: Option<u64>,
) -> anyhow::Result<(Hash, Option<Hash>)> {
    let mut edge = TileBuilder::new();
    let mut seen = earlier.filter(|&e| e == 0).map(|_| edge.root());
    leaves(store, size, |leaf| {
        edge.push(leaf, |_, _| {});
        if Some(edge.size()) == earlier {
            seen = Some(edge.root());
        }
    })
    .await?;
    Ok((edge.root(), seen))
}

/// `readnet tree`. Without proofs, the tree is built in bounded memory (its right edge, full
/// tiles written as they complete); proofs need every node, kept in memory.
pub async fn tree_command(args: TreeArgs) -> anyhow::Result<ExitCode> {
    let store = crate::audit::open(&args.data).await?;
    let size = args.size.unwrap_or(store.head_position().get());
    let mut sink = args.tiles.as_deref().map(TileSink::new);
    let (root, tree) = if args.prove.is_none() && args.since.is_none() {
        let mut edge = TileBuilder::new();
        let mut failed = None;
        leaves(&store, size, |leaf| {
            edge.push(leaf, |tile, hashes| {
                if let Some(sink) = sink.as_mut().filter(|_| failed.is_none()) {
                    failed = sink.put(tile, &hashes.concat()).err();
                }
            })
        })
        .await?;
        if let Some(error) = failed {
            return Err(error);
        }
        if let Some(sink) = sink.as_mut() {
            // At most one partial tile a level; 8 levels of 256 cover 2^64 leaves.
            for level in 0..8 {
                if let Some((tile, hashes)) = edge.partial(level) {
                    sink.put(tile, &hashes.concat())?;
                }
            }
        }
        (edge.root(), None)
    } else {
        let tree = build(&store, Some(size)).await?;
        if let Some(sink) = sink.as_mut() {
            for tile in tiles_of(size) {
                sink.put(tile, &tile_bytes(&tree, tile)?)?;
            }
        }
        (tree.root(size)?, Some(tree))
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "tree size {size}")?;
    writeln!(out, "root {}", hex(&root))?;
    if let Some(sink) = &sink {
        writeln!(
            out,
            "tiles in {}: {} written, {} already there and equal",
            sink.dir.display(),
            sink.written,
            sink.kept
        )?;
    }
    let Some(tree) = tree else {
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(position) = args.prove {
        if position == 0 || position > size {
            bail!("--prove {position}: a position of the tree is 1..={size}");
        }
        let proof = inclusion_proof(&tree, position - 1, size)?;
        writeln!(
            out,
            "inclusion of position {position} (leaf {}) in {size}: {} hash(es)",
            position - 1,
            proof.len()
        )?;
        for hash in &proof {
            writeln!(out, "  {}", hex(hash))?;
        }
    }
    if let Some(old) = args.since {
        if old > size {
            bail!("--since {old}: older than the tree of {size} means at most {size}");
        }
        let proof = consistency_proof(&tree, old, size)?;
        writeln!(
            out,
            "consistency {old} -> {size}: old root {}, {} hash(es)",
            hex(&tree.root(old)?),
            proof.len()
        )?;
        for hash in &proof {
            writeln!(out, "  {}", hex(hash))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where `--tiles` writes: a full tile already there must hold the same bytes (it never
/// changes), or the log these tiles were made from is not this one.
struct TileSink<'d> {
    dir: &'d std::path::Path,
    written: u64,
    kept: u64,
}

impl<'d> TileSink<'d> {
    fn new(dir: &'d std::path::Path) -> Self {
        TileSink {
            dir,
            written: 0,
            kept: 0,
        }
    }

    fn put(&mut self, tile: TileId, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.dir.join(tile.path());
        if tile.width == TILE_WIDTH
            && let Ok(existing) = std::fs::read(&path)
        {
            if existing != bytes {
                bail!(
                    "{} holds other hashes than this log's: a full tile never changes, so the \
                     log these tiles were made from is not this one",
                    path.display()
                );
            }
            self.kept += 1;
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        self.written += 1;
        Ok(())
    }
}
