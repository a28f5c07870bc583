//! Starting and stopping each role.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use object_store::ObjectStore;
use sluice_agent::{Agent, AgentConfig};
use sluice_meta::{MetaClient, MetaNode, MetaNodeConfig};
use sluice_storage::{open_object_store, BlockCache, BucketStatus, CacheConfig, ObjectStoreConfig};
use tokio::task::JoinSet;

use crate::cli::{AgentTuning, Cli, Command, MetaAdmin, MetaArgs};
use crate::health::{Health, HealthServer, NotReady, ReadyCheck};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dev(a) => {
            let health = Health::default();
            let server = serve_health(a.agent.metrics_listen, &health).await?;
            let data = std::path::absolute(&a.data_dir)?;
            std::fs::create_dir_all(&data)?;
            let meta_cfg = MetaNodeConfig::new(1, data.join("meta"), "127.0.0.1:0".parse()?);
            let node = MetaNode::start(meta_cfg)
                .await
                .context("starting the metadata node")?;
            println!(
                "metadata node 1 up at {} ({})",
                node.local_addr(),
                data.join("meta").display()
            );
            let store_cfg = ObjectStoreConfig {
                url: format!("file://{}", data.join("objects").display()),
                ..Default::default()
            };
            println!("object store: {}", store_cfg.url);
            let meta = MetaClient::local(node.clone());
            let result = run_agent(
                a.agent,
                meta.clone(),
                store_cfg,
                Some(data.join("cache")),
                -1,
                &health,
            )
            .await;
            node.shutdown().await;
            stop_health(server).await;
            result
        }
        Command::Meta(MetaArgs {
            admin: Some(cmd), ..
        }) => meta_admin(cmd).await,
        Command::Meta(a) => {
            let health = Health::default();
            let server = serve_health(a.metrics_listen, &health).await?;
            let mut cfg = MetaNodeConfig::new(a.id, a.data_dir.clone(), a.listen);
            cfg.advertised = a.advertised.clone();
            cfg.peers = parse_peers(&a.peers)?;
            cfg.bootstrap = a.bootstrap;
            cfg.rejoin = a.rejoin;
            cfg.fault_injection = a.fault_injection;
            cfg.tuning.snapshot_every = a.snapshot_every;
            let mut snapshot_store = None;
            if let Some(url) = &a.snapshot_store {
                let store_cfg = ObjectStoreConfig {
                    url: url.clone(),
                    s3_endpoint: a.s3_endpoint.clone(),
                    s3_region: a.s3_region.clone(),
                    s3_path_style: false,
                };
                check_bucket(&store_cfg, a.create_bucket).await?;
                let store = open_object_store(&store_cfg).context("opening the snapshot store")?;
                snapshot_store = Some(store.clone());
                cfg.snapshot_archive = Some(Arc::new(
                    crate::snapshots::ObjectSnapshotArchive::new(store),
                ));
            }
            let node = MetaNode::start(cfg)
                .await
                .context("starting the metadata node")?;
            health.set_check(meta_ready_check(node.clone(), snapshot_store));
            println!(
                "meta node {} ready on {} ({})",
                a.id,
                node.local_addr(),
                a.data_dir.display()
            );
            shutdown_signal().await;
            health.shutting_down();
            println!("meta node {} shutting down", a.id);
            node.shutdown().await;
            stop_health(server).await;
            Ok(())
        }
        Command::Agent(a) => {
            let health = Health::default();
            let server = serve_health(a.agent.metrics_listen, &health).await?;
            let store_cfg = ObjectStoreConfig {
                url: a.object_store.clone(),
                s3_endpoint: a.s3_endpoint.clone(),
                s3_region: a.s3_region.clone(),
                s3_path_style: false,
            };
            check_bucket(&store_cfg, a.create_bucket).await?;
            let meta = MetaClient::remote(&a.meta).context("connecting to the metadata quorum")?;
            let result = run_agent(
                a.agent,
                meta.clone(),
                store_cfg,
                Some(a.cache_dir.clone()),
                a.agent_id,
                &health,
            )
            .await;
            meta.shutdown().await;
            stop_health(server).await;
            result
        }
        Command::Bench(b) => crate::bench::run(b).await,
        Command::Token(t) => crate::token::run(t).await,
        Command::Table(t) => crate::table::run(t).await,
    }
}

async fn meta_admin(cmd: MetaAdmin) -> anyhow::Result<()> {
    let membership = match cmd {
        MetaAdmin::AddNode { meta, id, addr } => {
            let admin = sluice_meta::admin::MetaAdmin::new(&meta)?;
            admin
                .add_node(id, &addr)
                .await
                .with_context(|| format!("adding meta node {id} ({addr})"))?
        }
        MetaAdmin::RemoveNode { meta, id } => {
            let admin = sluice_meta::admin::MetaAdmin::new(&meta)?;
            admin
                .remove_node(id)
                .await
                .with_context(|| format!("removing meta node {id}"))?
        }
        MetaAdmin::Members { meta } => {
            sluice_meta::admin::MetaAdmin::new(&meta)?
                .membership()
                .await?
        }
    };
    println!("{}", serde_json::to_string(&membership)?);
    Ok(())
}

fn parse_peers(s: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (id, addr) = p
                .split_once('=')
                .with_context(|| format!("peer '{p}' is not id=host:port"))?;
            Ok((
                id.trim()
                    .parse()
                    .with_context(|| format!("peer id in '{p}'"))?,
                addr.trim().to_string(),
            ))
        })
        .collect()
}

/// The broker bounds on group configs from the flags, refused when a range is empty.
fn group_config_bounds(
    b: &crate::cli::GroupBoundsArgs,
) -> anyhow::Result<sluice_agent::group_config::GroupConfigBounds> {
    let bounds = sluice_agent::group_config::GroupConfigBounds {
        consumer_session_timeout_ms: b.group_consumer_min_session_timeout_ms
            ..=b.group_consumer_max_session_timeout_ms,
        consumer_heartbeat_interval_ms: b.group_consumer_min_heartbeat_interval_ms
            ..=b.group_consumer_max_heartbeat_interval_ms,
        share_session_timeout_ms: b.group_share_min_session_timeout_ms
            ..=b.group_share_max_session_timeout_ms,
        share_heartbeat_interval_ms: b.group_share_min_heartbeat_interval_ms
            ..=b.group_share_max_heartbeat_interval_ms,
        share_record_lock_duration_ms: b.group_share_min_record_lock_duration_ms
            ..=b.group_share_max_record_lock_duration_ms,
        streams_session_timeout_ms: b.group_streams_min_session_timeout_ms
            ..=b.group_streams_max_session_timeout_ms,
        streams_heartbeat_interval_ms: b.group_streams_min_heartbeat_interval_ms
            ..=b.group_streams_max_heartbeat_interval_ms,
        streams_max_standby_replicas: b.group_streams_max_standby_replicas,
        ..Default::default()
    };
    bounds.validate().context("--group-*-min/max-* flags")?;
    Ok(bounds)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Starts the `--metrics-listen` listener (metrics and health, see [`crate::health`]) if asked.
async fn serve_health(
    addr: Option<std::net::SocketAddr>,
    health: &Health,
) -> anyhow::Result<Option<HealthServer>> {
    match addr {
        Some(addr) => Ok(Some(crate::health::serve(addr, health.clone()).await?)),
        None => Ok(None),
    }
}

async fn stop_health(server: Option<HealthServer>) {
    if let Some(server) = server {
        server.shutdown().await;
    }
}

/// Checks the bucket of an `s3://` store before anything else starts (creating it with
/// `--create-bucket`), so a missing bucket or wrong credentials stop the process at once with
/// one line instead of failing the first produce.
async fn check_bucket(cfg: &ObjectStoreConfig, create: bool) -> anyhow::Result<()> {
    let status = sluice_storage::ensure_bucket(cfg, create)
        .await
        .with_context(|| format!("object store {}", cfg.url))?;
    if status == BucketStatus::Created {
        println!("created the bucket of {}", cfg.url);
    }
    Ok(())
}

/// A meta node is ready when it has joined the quorum and caught up, and its snapshot store
/// (if any) answers.
fn meta_ready_check(node: Arc<MetaNode>, store: Option<Arc<dyn ObjectStore>>) -> ReadyCheck {
    Arc::new(move || {
        let (node, store) = (node.clone(), store.clone());
        async move {
            node.readiness().map_err(NotReady::MetaNode)?;
            match store {
                Some(store) => crate::health::store_ready(store.as_ref()).await,
                None => Ok(()),
            }
        }
        .boxed()
    })
}

/// An agent is ready once registered, when its replica of the metadata is current and its
/// object store answers.
fn agent_ready_check(meta: MetaClient, store: Arc<dyn ObjectStore>) -> ReadyCheck {
    Arc::new(move || {
        let (meta, store) = (meta.clone(), store.clone());
        async move {
            meta.readiness().map_err(NotReady::Metadata)?;
            crate::health::store_ready(store.as_ref()).await
        }
        .boxed()
    })
}

async fn run_agent(
    t: AgentTuning,
    meta: MetaClient,
    store_cfg: ObjectStoreConfig,
    cache_dir: Option<std::path::PathBuf>,
    agent_id: i32,
    health: &Health,
) -> anyhow::Result<()> {
    let store = open_object_store(&store_cfg).context("opening the object store")?;
    let (store, _faults) =
        crate::faults::install(store, t.fault_injection_listen, t.fault_injection_seed).await?;
    let faults_on = t.fault_injection_listen.is_some();
    let probe_store = store.clone();
    let local = store_cfg.url.starts_with("file://") || store_cfg.url.starts_with("memory://");
    // A disk tier in front of a local-directory store would write every produced byte to the
    // same disk a second time (the cache is seeded on write) and serve reads the page cache
    // already serves: only remote stores get one.
    let cache_cfg = CacheConfig {
        dir: cache_dir.filter(|_| t.cache_disk_mb > 0 && !local),
        memory_bytes: t.cache_memory_mb << 20,
        disk_bytes: t.cache_disk_mb << 20,
        ..CacheConfig::default()
    };
    let cache = Arc::new(
        BlockCache::open(store, &cache_cfg)
            .await
            .context("opening the block cache")?,
    );
    let listeners = crate::listeners::Listeners::bind(&t).await?;
    let bound = listeners.bound;
    let (host, port) = (listeners.host.clone(), listeners.port);
    let cfg = AgentConfig {
        agent_id,
        listen: bound,
        advertised_host: host.clone(),
        advertised_port: port,
        rack: t.rack.clone(),
        flush_bytes: t.flush_bytes,
        linger: Duration::from_millis(t.linger_ms.unwrap_or(if local { 5 } else { 250 })),
        max_inflight_flushes: t
            .max_inflight_flushes
            .unwrap_or(if local { 1 } else { 4 })
            .max(1),
        max_request_bytes: t.max_request_bytes,
        auto_create_topics: t.auto_create_topics,
        default_partitions: t.num_partitions,
        orphan_grace: Duration::from_secs(t.orphan_grace_secs),
        retention_check_interval: Duration::from_millis(t.log_retention_check_interval_ms.max(1)),
        log_retention_ms: t.log_retention_ms,
        log_retention_bytes: t.log_retention_bytes,
        file_delete_delay: Duration::from_millis(t.file_delete_delay_ms),
        compaction: (t.compaction_interval_ms > 0).then(|| {
            sluice_agent::config::CompactionConfig {
                interval: Duration::from_millis(t.compaction_interval_ms),
                target_bytes: t.compaction_target_bytes.max(1),
                max_bytes_per_sec: t.compaction_max_bytes_per_sec.max(1),
                min_age: Duration::from_millis(t.compaction_min_age_ms),
                test_pause_uploaded: t.compaction_test_pause,
            }
        }),
        cache: cache_cfg,
        object_store_url: store_cfg.url.clone(),
        local_object_root: sluice_storage::local_root(&store_cfg),
        direct_local_writes: !faults_on,
        listeners: listeners.adverts(),
        sasl_mechanisms: crate::listeners::sasl_mechanisms(&t),
        oauth: crate::listeners::oauth_validator(&t)?,
        max_reauth: sluice_agent::sasl::lifetime(t.connections_max_reauth_ms),
        consumer_session_timeout: Duration::from_millis(t.group_consumer_session_timeout_ms),
        consumer_heartbeat_interval: Duration::from_millis(t.group_consumer_heartbeat_interval_ms),
        consumer_max_size: t.group_consumer_max_size.max(1),
        streams_session_timeout: Duration::from_millis(t.group_streams_session_timeout_ms),
        streams_heartbeat_interval: Duration::from_millis(t.group_streams_heartbeat_interval_ms),
        streams_num_standby_replicas: t.group_streams_num_standby_replicas,
        group_config_bounds: group_config_bounds(&t.group_bounds)?,
        group_initial_rebalance_delay: Duration::from_millis(t.group_initial_rebalance_delay_ms),
        offsets_retention: Duration::from_secs(t.offsets_retention_minutes.saturating_mul(60)),
        transaction_max_timeout_ms: t.transaction_max_timeout_ms.max(1),
        transactional_id_expiration: Duration::from_millis(t.transactional_id_expiration_ms),
        transaction_abort_check_interval: Duration::from_millis(
            t.transaction_abort_check_interval_ms.max(10),
        ),
        authorizer: sluice_auth::authorizer::AuthorizerConfig {
            enabled: t.authorizer,
            super_users: sluice_auth::authorizer::AuthorizerConfig::parse_super_users(
                &t.super_users,
            ),
            allow_if_no_acl: t.allow_everyone_if_no_acl_found,
        },
        table: sluice_agent::config::TableJobConfig {
            max_commit_bytes: t.table_max_commit_mb.max(1) << 20,
            test_pause: t.table_test_pause.clone(),
            ..Default::default()
        },
        ..AgentConfig::default()
    };
    let agent = Agent::start(cfg, meta, cache.clone())
        .await
        .context("registering the agent")?;
    let mut tasks = JoinSet::new();
    sluice_agent::background::spawn_all(&agent, &mut tasks);
    listeners.serve_all(&agent, &mut tasks);
    health.set_check(agent_ready_check(agent.meta.clone(), probe_store));
    println!(
        "Sluice ready: agent {} serving Kafka on {bound}, bootstrap {host}:{port}",
        agent.id()
    );
    shutdown_signal().await;
    health.shutting_down();
    println!("shutting down: flushing buffered records");
    agent.shutdown.cancel();
    agent.writer.close().await;
    while tasks.join_next().await.is_some() {}
    let _ = agent
        .meta
        .propose(sluice_meta::command::Command::AgentLeave {
            agent_id: agent.id(),
        })
        .await;
    if let Err(e) = cache.close().await {
        tracing::warn!(error = %e, "closing the cache");
    }
    println!("stopped");
    Ok(())
}
