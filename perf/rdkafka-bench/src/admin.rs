//! Topic creation through the admin API.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::error::BenchError;

/// How long the broker may take to create a topic.
const CREATE_TOPIC_TIMEOUT: Duration = Duration::from_secs(30);
/// A single broker can only hold one replica.
const REPLICATION_FACTOR: i32 = 1;

/// Creates `topic` with `partitions` partitions unless it already exists.
/// Returns true when this call created it.
pub fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<bool, BenchError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new_topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(REPLICATION_FACTOR),
    );
    let options = AdminOptions::new()
        .request_timeout(Some(CREATE_TOPIC_TIMEOUT))
        .operation_timeout(Some(CREATE_TOPIC_TIMEOUT));
    let results = block_on(admin.create_topics([&new_topic], &options))?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((name, code))) => Err(BenchError::TopicCreation(format!("{name}: {code}"))),
        None => Err(BenchError::TopicCreation("no result returned".to_string())),
    }
}

/// Wakes the thread blocked in `block_on`.
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs one future to completion on this thread. The admin client resolves its futures from
/// its own background thread, so no async runtime is needed.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_completes_a_future_woken_from_another_thread() {
        let (sender, receiver) = std::sync::mpsc::channel::<u32>();
        let handle = std::thread::spawn(move || sender.send(7));
        struct Recv(std::sync::mpsc::Receiver<u32>);
        impl Future for Recv {
            type Output = u32;
            fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
                match self.0.try_recv() {
                    Ok(v) => Poll::Ready(v),
                    Err(_) => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
        }
        assert_eq!(block_on(Recv(receiver)), 7);
        handle.join().unwrap().unwrap();
    }
}
