//! One connection to the fleet's Redis (a server or a cluster), made on
//! first use and made again after an error, every call counted. Blocking:
//! only cold-path threads hold one, each its own, so no call waits for
//! another thread's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::ConnectionLike;

use crate::config::RedisTarget;
use crate::state::StateError;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one answer may take (a blocking stream read waits at most
/// [`crate::fleet::keys::BLOCK_MS`] of it).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Counters of every connection of one instance, for `/metrics`.
#[derive(Debug, Default)]
pub struct RedisStats {
    /// Calls sent (a pipeline or a script is one).
    pub round_trips: AtomicU64,
    /// Calls that failed (unreachable, timed out, refused).
    pub errors: AtomicU64,
    /// Values under our keys that could not be read (corrupt or foreign):
    /// logged, ignored, counted.
    pub bad_values: AtomicU64,
}

/// A connection to a server or to a cluster (which routes each command
/// by its key, and pipelines by key too).
enum Conn {
    Single(redis::Connection),
    Cluster(redis::cluster::ClusterConnection),
}

impl Conn {
    fn like(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => c,
        }
    }
}

/// Commands sent together in one round trip per node: one pipeline on a
/// server; on a cluster each command goes to the node of its key. Not a
/// transaction: for one atomic step use a script.
#[derive(Default, Clone)]
pub struct Batch {
    cmds: Vec<(redis::Cmd, bool)>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("commands", &self.cmds.len())
            .finish()
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds `cmd`, its reply kept.
    pub fn add(&mut self, cmd: redis::Cmd) -> &mut Batch {
        self.cmds.push((cmd, true));
        self
    }

    /// Adds `cmd`, its reply dropped.
    pub fn add_ignored(&mut self, cmd: redis::Cmd) -> &mut Batch {
        self.cmds.push((cmd, false));
        self
    }

    /// Whether it holds no command.
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// How many commands it holds.
    pub fn len(&self) -> usize {
        self.cmds.len()
    }
}

/// A connection to the fleet's Redis.
pub struct Redis {
    target: RedisTarget,
    conn: Option<Conn>,
    /// Shared by every connection of the instance.
    pub stats: Arc<RedisStats>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("target", &self.target)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Redis {
    /// A connection to `target`, made on first use.
    pub fn new(target: RedisTarget, stats: Arc<RedisStats>) -> Redis {
        Redis {
            target,
            conn: None,
            stats,
        }
    }

    /// Another connection to the same Redis, sharing the counters.
    pub fn another(&self) -> Redis {
        Redis::new(self.target.clone(), Arc::clone(&self.stats))
    }

    fn connect(&self) -> redis::RedisResult<Conn> {
        match &self.target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
                conn.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
                conn.set_write_timeout(Some(RESPONSE_TIMEOUT))?;
                Ok(Conn::Single(conn))
            }
            RedisTarget::Cluster(nodes) => {
                let client =
                    redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str))
                        .connection_timeout(CONNECT_TIMEOUT)
                        .response_timeout(RESPONSE_TIMEOUT)
                        .retries(2)
                        .build()?;
                Ok(Conn::Cluster(client.get_connection()?))
            }
        }
    }

    /// Runs `f` on the connection (made first if need be): one round trip
    /// counted. On an error the connection is dropped, to be made again
    /// by the next call.
    pub fn call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, StateError> {
        self.with(|c| f(c.like()))
    }

    /// Sends `batch` (see [`Batch`]): one round trip counted; the kept
    /// replies as `T`.
    pub fn batch<T: redis::FromRedisValue>(&mut self, batch: &Batch) -> Result<T, StateError> {
        self.with(|conn| match conn {
            Conn::Single(c) => {
                let mut p = redis::pipe();
                for (cmd, keep) in &batch.cmds {
                    p.add_command(cmd.clone());
                    if !keep {
                        p.ignore();
                    }
                }
                p.query(c)
            }
            Conn::Cluster(c) => {
                let mut p = redis::cluster::cluster_pipe();
                for (cmd, keep) in &batch.cmds {
                    p.add_command(cmd.clone());
                    if !keep {
                        p.ignore();
                    }
                }
                p.query(c)
            }
        })
    }

    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> redis::RedisResult<T>,
    ) -> Result<T, StateError> {
        self.stats.round_trips.fetch_add(1, Ordering::Relaxed);
        let conn = match self.conn.take() {
            Some(c) => Ok(c),
            None => self.connect(),
        };
        let result = conn.map(|mut c| {
            let r = f(&mut c);
            (c, r)
        });
        match result {
            Ok((c, Ok(v))) => {
                self.conn = Some(c);
                Ok(v)
            }
            Ok((c, Err(e))) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                // A refused command (a script error, a wrong type) leaves
                // the connection usable; anything else may not have.
                if !e.is_io_error() && !e.is_timeout() && !e.is_connection_dropped() {
                    self.conn = Some(c);
                }
                Err(StateError::Unavailable(e.to_string()))
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                Err(StateError::Unavailable(e.to_string()))
            }
        }
    }

    /// Counts a value under our keys that could not be read, and logs it.
    pub fn bad_value(&self, key: &str, why: &str) {
        self.stats.bad_values.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(key, why, "unreadable value in Redis ignored");
    }
}
