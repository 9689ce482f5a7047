//! A bounded worker pool: N generation threads, a queue of at most `queue_limit` waiting
//! requests, tokens delivered over a channel (or any sink) as they come.
//!
//! Generation is CPU-bound and blocking, so it runs on its own OS threads, never on an async
//! runtime's: the gateway calls [`Pool::try_submit`] (non-blocking), gets
//! [`ErrorKind::QueueFull`] at once when the queue is full (answer 429/503), and otherwise
//! reads [`Event`]s. With [`Pool::try_submit_with`] the sink can be an async channel's sender,
//! so an async handler awaits tokens without blocking its I/O. Dropping the receiver (or a
//! sink returning `false`) cancels the generation at the next token.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{Error, ErrorKind};
use crate::model::{Chunk, Completion, GenerateRequest, LocalModel};

/// Pool sizing, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Generations that run at once (each on its own thread with its own KV cache).
    pub workers: usize,
    /// Compute threads per generation. On small machines 1 is fastest: measured 25 s for
    /// 48 tokens with default threading on 2 shared cores, 4.3 s with one thread.
    pub threads_per_worker: usize,
    /// Requests that may wait for a worker; one more is refused with `QueueFull`.
    pub queue_limit: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            threads_per_worker: 1,
            queue_limit: 16,
        }
    }
}

/// What a request's receiver gets, in order: chunks, then exactly one `Done` or `Failed`.
#[derive(Debug, Clone)]
pub enum Event {
    /// A piece of the answer.
    Chunk(Chunk),
    /// Generation finished.
    Done(Completion),
    /// Generation failed (the message holds no prompt text).
    Failed(Arc<Error>),
}

/// Receives a request's events; returns `false` when nobody listens any more (cancels).
pub type Sink = Box<dyn FnMut(Event) -> bool + Send>;

struct Job {
    request: GenerateRequest,
    sink: Sink,
}

/// The worker pool. Dropping it lets queued requests finish, then joins the workers.
pub struct Pool {
    queue: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Starts `config.workers` threads, each with its own clone of `model`.
    ///
    /// # Errors
    /// `Inference` when a thread or its compute pool cannot be created.
    pub fn new(model: &LocalModel, config: PoolConfig) -> Result<Self, Error> {
        let (tx, rx) = mpsc::sync_channel::<Job>(config.queue_limit);
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..config.workers.max(1) {
            let compute = rayon::ThreadPoolBuilder::new()
                .num_threads(config.threads_per_worker.max(1))
                .thread_name(move |t| format!("veil-local-{i}-{t}"))
                .build()
                .map_err(|e| Error::new(ErrorKind::Inference, format!("thread pool: {e}")))?;
            let mut model = model.clone();
            let rx = Arc::clone(&rx);
            let handle = std::thread::Builder::new()
                .name(format!("veil-local-{i}"))
                .spawn(move || worker(&rx, &compute, &mut model))
                .map_err(|e| Error::new(ErrorKind::Inference, format!("worker thread: {e}")))?;
            workers.push(handle);
        }
        Ok(Self {
            queue: Some(tx),
            workers,
        })
    }

    /// Queues a request; events go to the returned receiver. Never blocks.
    ///
    /// # Errors
    /// `QueueFull` when `queue_limit` requests already wait; `PoolClosed` after shutdown.
    pub fn try_submit(&self, request: GenerateRequest) -> Result<Receiver<Event>, Error> {
        let (tx, rx) = mpsc::channel();
        self.try_submit_with(request, Box::new(move |ev| tx.send(ev).is_ok()))?;
        Ok(rx)
    }

    /// Queues a request whose events go to `sink` (e.g. an async channel's sender). Never
    /// blocks.
    ///
    /// # Errors
    /// `QueueFull` when `queue_limit` requests already wait; `PoolClosed` after shutdown.
    pub fn try_submit_with(&self, request: GenerateRequest, sink: Sink) -> Result<(), Error> {
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::PoolClosed, "local model pool is closed"))?;
        match queue.try_send(Job { request, sink }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::new(
                ErrorKind::QueueFull,
                "local model queue is full",
            )),
            Err(TrySendError::Disconnected(_)) => Err(Error::new(
                ErrorKind::PoolClosed,
                "local model pool is closed",
            )),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends each worker's loop once the queue is drained.
        self.queue = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(rx: &Mutex<Receiver<Job>>, compute: &rayon::ThreadPool, model: &mut LocalModel) {
    loop {
        // INVARIANT: the lock is held only while waiting for a job, never while generating.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(Job { request, mut sink }) = job else {
            return;
        };
        let result =
            compute.install(|| model.generate(&request, &mut |chunk| sink(Event::Chunk(chunk))));
        let _ = match result {
            Ok(done) => sink(Event::Done(done)),
            Err(err) => sink(Event::Failed(Arc::new(err))),
        };
    }
}
