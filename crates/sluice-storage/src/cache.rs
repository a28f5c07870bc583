//! Reads of object byte ranges through a foyer HybridCache (memory, then local disk).
//!
//! Keys are `(object, aligned block)`, so overlapping fetches of one segment by many consumers
//! share blocks, and concurrent misses on one block cost one GET (foyer's `get_or_fetch`
//! coalesces them). The agent that writes a segment seeds its blocks, so tailing consumers
//! usually never touch the object store.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use foyer::{
    BlockEngineConfig, DeviceBuilder, FsDeviceBuilder, HybridCache, HybridCacheBuilder,
    HybridCachePolicy,
};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// Sizes and place of the block cache (from the agent's cache flags).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Disk tier directory; `None` keeps the cache in memory only.
    pub dir: Option<PathBuf>,
    /// Memory tier capacity, bytes (keys + block bytes); default 256 MiB.
    pub memory_bytes: usize,
    /// Disk tier capacity, bytes (ignored without `dir`); default 1 GiB.
    pub disk_bytes: usize,
    /// Size of a cached block, bytes (default 1 MiB; must not be 0); reads are aligned to it.
    pub block_bytes: u64,
    /// Blocks fetched ahead, in the background, after a read that missed the cache (default 4):
    /// a consumer catching up from the object store finds its next blocks on the way instead
    /// of waiting for one GET per block.
    pub read_ahead_blocks: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            dir: None,
            memory_bytes: 256 << 20,
            disk_bytes: 1 << 30,
            block_bytes: 1 << 20,
            read_ahead_blocks: 4,
        }
    }
}

/// Why opening the cache or reading through it failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// An object store error (not produced by this module today: a failed block GET reaches
    /// the caller through foyer as [`CacheError::Cache`]).
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// foyer failed (building the cache, the disk tier, or a block fetch, including the
    /// object store GET behind it); the text is the cause.
    #[error("cache: {0}")]
    Cache(String),
    /// A read asked for bytes beyond the object (or a reversed range).
    #[error("range {start}..{end} is outside object {object} of {len} bytes")]
    OutOfRange {
        /// The object key.
        object: String,
        /// Range start, byte offset (inclusive).
        start: u64,
        /// Range end, byte offset (exclusive).
        end: u64,
        /// The object's length, bytes.
        len: u64,
    },
}

/// Byte ranges of objects, read through a memory (and optionally disk) cache of aligned
/// blocks; cheap to share (`Arc`) across connections.
pub struct BlockCache {
    cache: HybridCache<String, Bytes>,
    store: Arc<dyn ObjectStore>,
    block: u64,
    read_ahead: u64,
}

fn block_key(object: &str, block: u64) -> String {
    format!("{object}#{block}")
}

/// Block number `block` of `object`, the bytes `range`, from the cache or fetched with one
/// ranged GET when missing (`missed` is then set).
async fn fetch_block(
    cache: &HybridCache<String, Bytes>,
    store: &Arc<dyn ObjectStore>,
    object: &str,
    (block, range): (u64, Range<u64>),
    missed: Arc<AtomicBool>,
) -> Result<Bytes, CacheError> {
    let key = block_key(object, block);
    let store = store.clone();
    let path = ObjectPath::from(object);
    let entry = cache
        .get_or_fetch(&key, move || async move {
            missed.store(true, Ordering::Relaxed);
            metrics::counter!("sluice_cache_block_fetches_total").increment(1);
            store.get_range(&path, range).await
        })
        .await
        .map_err(|e| CacheError::Cache(e.to_string()))?;
    Ok(entry.value().clone())
}

impl BlockCache {
    /// Builds the cache over `store`, creating `cfg.dir` when set. Errors:
    /// [`CacheError::Cache`] when the directory or the foyer cache cannot be created, or
    /// `cfg.block_bytes` is 0.
    pub async fn open(store: Arc<dyn ObjectStore>, cfg: &CacheConfig) -> Result<Self, CacheError> {
        if cfg.block_bytes == 0 {
            return Err(CacheError::Cache(
                "the cache block size must be above 0 bytes".into(),
            ));
        }
        let builder = HybridCacheBuilder::new()
            .with_name("sluice-blocks")
            .with_policy(HybridCachePolicy::WriteOnInsertion)
            .memory(cfg.memory_bytes)
            .with_weighter(|k: &String, v: &Bytes| k.len() + v.len())
            .storage();
        let builder = match &cfg.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| CacheError::Cache(e.to_string()))?;
                let device = FsDeviceBuilder::new(dir)
                    .with_capacity(cfg.disk_bytes)
                    .build()
                    .map_err(|e| CacheError::Cache(e.to_string()))?;
                let engine_block = (cfg.block_bytes as usize * 4).max(16 << 20);
                builder.with_engine_config(
                    BlockEngineConfig::new(device).with_block_size(engine_block),
                )
            }
            None => builder,
        };
        let cache = builder
            .build()
            .await
            .map_err(|e| CacheError::Cache(e.to_string()))?;
        Ok(BlockCache {
            cache,
            store,
            block: cfg.block_bytes,
            read_ahead: cfg.read_ahead_blocks,
        })
    }

    /// Flushes the disk tier and stops its workers.
    pub async fn close(&self) -> Result<(), CacheError> {
        self.cache
            .close()
            .await
            .map_err(|e| CacheError::Cache(e.to_string()))
    }

    /// The block size in bytes: reads within one block are slices of the cached block (no copy).
    pub fn block_size(&self) -> u64 {
        self.block
    }

    /// The object store behind the cache.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Seeds the cache with a freshly written object (all of it, block by block), so reads of
    /// it need no GET while the blocks stay cached.
    pub fn seed(&self, object: &str, data: &Bytes) {
        let mut start = 0u64;
        let len = data.len() as u64;
        while start < len {
            let end = (start + self.block).min(len);
            self.cache.insert(
                block_key(object, start / self.block),
                data.slice(start as usize..end as usize),
            );
            start = end;
        }
    }

    /// Reads `range` (byte offsets, end exclusive) of `object`, whose total length is
    /// `object_len` bytes, one GET per missing block: one buffer (a slice of the cached block
    /// when the range lies in one block, else a copy joining them). Errors:
    /// [`CacheError::OutOfRange`], [`CacheError::Cache`] for a failed fetch.
    pub async fn read(
        &self,
        object: &str,
        object_len: u64,
        range: Range<u64>,
    ) -> Result<Bytes, CacheError> {
        let mut parts = self.read_parts(object, object_len, range).await?;
        if parts.len() <= 1 {
            return Ok(parts.pop().unwrap_or_default());
        }
        let mut out = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
        for p in &parts {
            out.extend_from_slice(p);
        }
        Ok(out.freeze())
    }

    /// [`read`](Self::read) without joining: the range as consecutive slices of the cached
    /// blocks it spans (none for an empty range), so a caller copying them elsewhere anyway
    /// copies once. Errors: as [`read`](Self::read).
    pub async fn read_parts(
        &self,
        object: &str,
        object_len: u64,
        range: Range<u64>,
    ) -> Result<Vec<Bytes>, CacheError> {
        if range.start > range.end || range.end > object_len {
            return Err(CacheError::OutOfRange {
                object: object.into(),
                start: range.start,
                end: range.end,
                len: object_len,
            });
        }
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let first = range.start / self.block;
        let last = (range.end - 1) / self.block;
        // The blocks of one read are fetched concurrently; a miss starts the read-ahead.
        let missed = Arc::new(AtomicBool::new(false));
        let mut parts = futures::future::try_join_all(
            (first..=last).map(|b| self.block_bytes(object, object_len, b, &missed)),
        )
        .await?;
        if missed.load(Ordering::Relaxed) {
            self.read_ahead(object, object_len, last);
        }
        // Only the first block is entered part-way, only the last left part-way.
        let skip = (range.start - first * self.block) as usize;
        let mut left = (range.end - range.start) as usize;
        for (i, p) in parts.iter_mut().enumerate() {
            let from = if i == 0 { skip } else { 0 };
            let take = (p.len() - from).min(left);
            *p = p.slice(from..from + take);
            left -= take;
        }
        Ok(parts)
    }

    /// Block `block` of `object`, from the cache or one ranged GET (concurrent readers of a
    /// missing block share one GET); sets `missed` when this call fetched it.
    async fn block_bytes(
        &self,
        object: &str,
        object_len: u64,
        block: u64,
        missed: &Arc<AtomicBool>,
    ) -> Result<Bytes, CacheError> {
        fetch_block(
            &self.cache,
            &self.store,
            object,
            (
                block,
                (block * self.block)..((block + 1) * self.block).min(object_len),
            ),
            missed.clone(),
        )
        .await
    }

    /// Fetches up to `read_ahead` blocks after `last` (within the object) in the background;
    /// errors are left for the read that needs the block to see.
    fn read_ahead(&self, object: &str, object_len: u64, last: u64) {
        let last_block = (object_len - 1) / self.block;
        for b in (last + 1)..=(last + self.read_ahead).min(last_block) {
            let (cache, store) = (self.cache.clone(), self.store.clone());
            let (object, block) = (object.to_string(), self.block);
            tokio::spawn(async move {
                let range = (b * block)..((b + 1) * block).min(object_len);
                let unused = Arc::new(AtomicBool::new(false));
                let _ = fetch_block(&cache, &store, &object, (b, range), unused).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::PutPayload;

    #[tokio::test]
    async fn reads_any_range_across_blocks_from_store_and_seed() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let data: Bytes = (0..10_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        store
            .put(&ObjectPath::from("seg/a"), PutPayload::from(data.clone()))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = CacheConfig {
            dir: Some(dir.path().into()),
            memory_bytes: 1 << 20,
            disk_bytes: 64 << 20,
            block_bytes: 1024,
            read_ahead_blocks: 2,
        };
        let cache = BlockCache::open(store.clone(), &cfg).await.unwrap();
        for (s, e) in [
            (0u64, 1u64),
            (1000, 1030),
            (1023, 1025),
            (0, 10_000),
            (9_999, 10_000),
            (5, 5),
        ] {
            let got = cache.read("seg/a", 10_000, s..e).await.unwrap();
            assert_eq!(&got[..], &data[s as usize..e as usize], "{s}..{e}");
        }
        assert!(matches!(
            cache.read("seg/a", 10_000, 9_000..10_001).await,
            Err(CacheError::OutOfRange { .. })
        ));
        let parts = cache.read_parts("seg/a", 10_000, 1000..3100).await.unwrap();
        assert_eq!(
            parts.iter().map(Bytes::len).collect::<Vec<_>>(),
            vec![24, 1024, 1024, 28]
        );
        assert_eq!(parts.concat(), &data[1000..3100]);
        assert!(cache
            .read_parts("seg/a", 10_000, 5..5)
            .await
            .unwrap()
            .is_empty());
        // A seeded object is served without the store.
        cache.seed("seg/b", &data);
        let got = cache.read("seg/b", 10_000, 2_000..7_000).await.unwrap();
        assert_eq!(&got[..], &data[2_000..7_000]);
        // Stop the disk tier's workers before its directory goes: left running past the test,
        // they wrote through file descriptors the next test had reopened for its own files.
        cache.close().await.unwrap();
    }

    #[tokio::test]
    async fn refuses_a_zero_block_size() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let cfg = CacheConfig {
            block_bytes: 0,
            ..CacheConfig::default()
        };
        let err = BlockCache::open(store, &cfg).await.err().expect("refused");
        assert!(matches!(err, CacheError::Cache(m) if m.contains("above 0")));
    }

    #[tokio::test]
    async fn a_miss_fetches_the_next_blocks_ahead() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let data: Bytes = (0..10_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        let path = ObjectPath::from("seg/ahead");
        store
            .put(&path, PutPayload::from(data.clone()))
            .await
            .unwrap();
        let cfg = CacheConfig {
            dir: None,
            memory_bytes: 1 << 20,
            disk_bytes: 0,
            block_bytes: 1024,
            read_ahead_blocks: 2,
        };
        let cache = BlockCache::open(store.clone(), &cfg).await.unwrap();
        // Block 0 misses: blocks 1 and 2 follow in the background, block 3 does not.
        assert_eq!(
            &cache.read("seg/ahead", 10_000, 0..10).await.unwrap()[..],
            &data[..10]
        );
        let ahead = |b: u64| cache.cache.contains(&block_key("seg/ahead", b));
        for _ in 0..1000 {
            if ahead(1) && ahead(2) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(ahead(1) && ahead(2), "blocks 1 and 2 were not read ahead");
        // With the object gone from the store, only cached blocks can be read.
        store.delete(&path).await.unwrap();
        assert_eq!(
            &cache.read("seg/ahead", 10_000, 1024..3072).await.unwrap()[..],
            &data[1024..3072]
        );
        assert!(
            cache.read("seg/ahead", 10_000, 3072..3080).await.is_err(),
            "block 3 was fetched"
        );
    }
}
