//! The accept loop both hosts run: a bounded number of open connections, each served by its
//! own task, every accepted and refused connection counted.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::stats::HostCounters;

/// Accepts connections on `listener` for ever: at most `max_connections` open at once (more
/// are closed at once and counted as `connections_refused`), each handed to `serve` with its
/// peer address and a connection number counting from 1, on a task of its own.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    counters: Arc<HostCounters>,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr, u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let mut next_conn: u64 = 0;
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            HostCounters::bump(&counters.connections_refused);
            continue;
        };
        stream.set_nodelay(true).ok();
        HostCounters::bump(&counters.connections);
        next_conn += 1;
        let served = serve(stream, from, next_conn);
        tokio::spawn(async move {
            served.await;
            drop(slot);
        });
    }
}
