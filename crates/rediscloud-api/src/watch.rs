//! The shared watcher: every wait and refresh of one provider process is served from shared
//! list requests (`GET /v1/tasks`, `GET /v1/cloud-accounts`), so the requests per poll instant
//! do not grow with the number of waiting resources, and polling is paced by a budget that
//! leaves writes their share of the rate limit.
//!
//! A caller asks for a list "fetched at or after" some instant. If the last fetch is fresh
//! enough it is served from it; if a fetch that started late enough is in flight, it joins it;
//! otherwise it starts one, after gathering callers until they stop arriving (at most 10 ms),
//! so that callers arriving together (a plan's refresh wave, a wave of waits) share it. While
//! the key has room to spare (no pace), a request saved is worth nothing and the time is not:
//! a new fetch then gathers only the callers already runnable, and never waits on a clock. New
//! fetches are paced per list by a token bucket whose rate the caller gives at every fetch
//! (spread from what the key's window has left), with a burst the caller also gives, never
//! more than [`POLL_BURST`] fetches.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::Shared;
use tokio::time::Instant;

use super::Error;

/// Fetches one list may start back to back before pacing applies, at most.
pub(crate) const POLL_BURST: f64 = 20.0;

/// How fast one list may start fetches now: a token bucket's rate and its size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ListPace {
    /// Fetches a second.
    pub(crate) per_s: f64,
    /// Fetches that may go back to back when tokens have gathered (at least 1, at most
    /// [`POLL_BURST`]).
    pub(crate) burst: f64,
}

/// The longest a new fetch waits for other callers to join it.
const GATHER: Duration = Duration::from_millis(10);
/// A new fetch stops gathering once no caller has joined it for this long: callers that
/// arrive together (Terraform's parallel RPCs) come within a millisecond of each other.
const GATHER_QUIET: Duration = Duration::from_millis(1);

/// A fetch being gathered, then in flight.
struct Gathering {
    /// Callers that joined while it was gathering.
    joins: AtomicU64,
    /// When its request was let out; `None` while it is still gathering. A caller may join
    /// a fetch that has not been sent yet, or one sent at or after its own `fresh_after`.
    sent: Mutex<Option<Instant>>,
}

impl Gathering {
    fn sent(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Fetch<T> = Shared<Pin<Box<dyn Future<Output = Result<Arc<T>, Error>> + Send>>>;

/// One shared list.
pub(crate) struct SharedList<T> {
    state: Mutex<ListState<T>>,
}

struct ListState<T> {
    last: Option<(Instant, Arc<T>)>,
    inflight: Option<(Arc<Gathering>, Fetch<T>)>,
    tokens: f64,
    refilled: Instant,
    fetches: u64,
}

impl<T: Send + Sync + 'static> SharedList<T> {
    pub(crate) fn new() -> Self {
        SharedList {
            state: Mutex::new(ListState {
                last: None,
                inflight: None,
                tokens: POLL_BURST,
                refilled: Instant::now(),
                fetches: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ListState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many fetches this list has started.
    pub(crate) fn fetches(&self) -> u64 {
        self.lock().fetches
    }

    /// The list as fetched by a request that started at or after `fresh_after`; `fetch` makes
    /// the request when none is fresh enough. `pace` says how fast this list may start fetches
    /// now, `None` when they need no pacing (the server has room well beyond the configured
    /// limit).
    pub(crate) async fn get<F, Fut>(
        &self,
        fresh_after: Instant,
        pace: impl Fn() -> Option<ListPace>,
        fetch: F,
    ) -> Result<Arc<T>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let mut fetch = Some(fetch);
        loop {
            match self.next_step(fresh_after, &pace, &mut fetch) {
                Step::Ready(list) => return Ok(list),
                Step::Join(fut) => return fut.await,
                Step::Lead(gathering, fut) => {
                    let out = fut.await;
                    self.finish(&gathering, &out);
                    return out;
                }
                Step::AwaitStale(fut) => {
                    // A fetch that started too early is in flight: let it land, then look again.
                    let _ = fut.await;
                }
                Step::Pace(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    fn next_step<F, Fut>(
        &self,
        fresh_after: Instant,
        pace: &dyn Fn() -> Option<ListPace>,
        fetch: &mut Option<F>,
    ) -> Step<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let mut st = self.lock();
        // A fetch whose leader went away (its operation was cancelled) still lands here.
        if let Some((started, done)) = st.inflight.as_ref().and_then(|(g, f)| {
            f.peek()
                .map(|out| (g.sent().unwrap_or_else(Instant::now), out.clone()))
        }) {
            st.inflight = None;
            if let Ok(list) = done
                && st.last.as_ref().is_none_or(|(s, _)| *s < started)
            {
                st.last = Some((started, list));
            }
        }
        if let Some((started, list)) = &st.last
            && *started >= fresh_after
        {
            return Step::Ready(Arc::clone(list));
        }
        if let Some((gathering, fut)) = &st.inflight {
            // Deciding under the fetch's own lock: a fetch seen unsent here is sent later, so
            // after `fresh_after`.
            let sent = gathering.sent();
            return match *sent {
                None => {
                    gathering.joins.fetch_add(1, Ordering::SeqCst);
                    Step::Join(fut.clone())
                }
                Some(at) if at >= fresh_after => Step::Join(fut.clone()),
                Some(_) => Step::AwaitStale(fut.clone()),
            };
        }
        // Pace: take a token, or learn when one will be there.
        let now = Instant::now();
        let elapsed = now.duration_since(st.refilled).as_secs_f64();
        let pace = pace();
        let per_s = pace.map(|p| p.per_s);
        let burst = pace.map_or(POLL_BURST, |p| p.burst.clamp(1.0, POLL_BURST));
        st.tokens = (st.tokens + elapsed * per_s.unwrap_or(0.0)).min(burst);
        st.refilled = now;
        let Some(make) = (st.tokens >= 1.0 || per_s.is_none())
            .then(|| fetch.take())
            .flatten()
        else {
            let per_s = per_s.unwrap_or(1.0).max(1e-3);
            // Asked again at least every second: the pace follows the window, which may reset.
            let wait = ((1.0 - st.tokens) / per_s).clamp(0.001, 1.0);
            return Step::Pace(Duration::from_secs_f64(wait));
        };
        st.tokens = (st.tokens - 1.0).max(0.0);
        st.fetches += 1;
        let gathering = Arc::new(Gathering {
            joins: AtomicU64::new(0),
            sent: Mutex::new(None),
        });
        let request = make();
        let g = Arc::clone(&gathering);
        let roomy = per_s.is_none();
        let fut: Pin<Box<dyn Future<Output = Result<Arc<T>, Error>> + Send>> =
            Box::pin(async move {
                if roomy {
                    gather_ready(&g).await;
                } else {
                    gather(&g).await;
                }
                request.await.map(Arc::new)
            });
        let fut = fut.shared();
        st.inflight = Some((Arc::clone(&gathering), fut.clone()));
        Step::Lead(gathering, fut)
    }

    fn finish(&self, gathering: &Arc<Gathering>, out: &Result<Arc<T>, Error>) {
        let started = gathering.sent().unwrap_or_else(Instant::now);
        let mut st = self.lock();
        if st
            .inflight
            .as_ref()
            .is_some_and(|(g, _)| Arc::ptr_eq(g, gathering))
        {
            st.inflight = None;
        }
        if let Ok(list) = out
            && st.last.as_ref().is_none_or(|(s, _)| *s < started)
        {
            st.last = Some((started, Arc::clone(list)));
        }
    }
}

/// Holds a new fetch until callers stop joining it ([`GATHER_QUIET`]) or for at most
/// [`GATHER`], then marks it sent.
async fn gather(g: &Gathering) {
    let until = Instant::now() + GATHER;
    let mut joined = g.joins.load(Ordering::SeqCst);
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        tokio::time::sleep(GATHER_QUIET.min(until - now)).await;
        let now_joined = g.joins.load(Ordering::SeqCst);
        if now_joined == joined {
            break;
        }
        joined = now_joined;
    }
    // Taken under the lock that callers decide under, so a caller that saw this fetch unsent
    // is certain it is sent after that.
    let mut sent = g.sent();
    *sent = Some(Instant::now());
}

/// The most turns a roomy fetch yields to callers joining it: a steady stream of them cannot
/// hold it back for longer.
const READY_TURNS: usize = 64;

/// Holds a new fetch only while callers already runnable join it (one turn of the runtime
/// each, at most [`READY_TURNS`]), then marks it sent: what gathering is worth when the key
/// has room to spare.
async fn gather_ready(g: &Gathering) {
    let mut joined = g.joins.load(Ordering::SeqCst);
    for _ in 0..READY_TURNS {
        tokio::task::yield_now().await;
        let now_joined = g.joins.load(Ordering::SeqCst);
        if now_joined == joined {
            break;
        }
        joined = now_joined;
    }
    let mut sent = g.sent();
    *sent = Some(Instant::now());
}

enum Step<T> {
    Ready(Arc<T>),
    Join(Fetch<T>),
    Lead(Arc<Gathering>, Fetch<T>),
    AwaitStale(Fetch<T>),
    Pace(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const TEN_A_SECOND: ListPace = ListPace {
        per_s: 10.0,
        burst: POLL_BURST,
    };

    /// Ten callers asking `list` at once for a fetch at or after `fresh_after`, each fetch
    /// answering how many fetches `made` counted before it.
    async fn ten_at_once(
        list: &Arc<SharedList<u32>>,
        made: &Arc<AtomicU32>,
        fresh_after: Instant,
        pace: Option<ListPace>,
    ) -> Vec<u32> {
        let calls = (0..10).map(|_| {
            let (list, made) = (Arc::clone(list), Arc::clone(made));
            async move {
                let fetch =
                    move || async move { Ok::<_, Error>(made.fetch_add(1, Ordering::SeqCst)) };
                *list.get(fresh_after, move || pace, fetch).await.unwrap()
            }
        });
        futures::future::join_all(calls).await
    }

    #[tokio::test]
    async fn callers_together_share_a_fetch_and_paced_callers_still_fetch() {
        let list: Arc<SharedList<u32>> = Arc::new(SharedList::new());
        let made = Arc::new(AtomicU32::new(0));
        let fetch = |made: Arc<AtomicU32>| {
            move || async move { Ok::<_, Error>(made.fetch_add(1, Ordering::SeqCst)) }
        };
        // Ten callers at once: one request.
        let got = ten_at_once(&list, &made, Instant::now(), Some(TEN_A_SECOND)).await;
        assert_eq!(got, vec![0; 10]);
        assert_eq!(made.load(Ordering::SeqCst), 1);
        // Past the burst, each fresh fetch waits for the budget, and still happens.
        let started = Instant::now();
        for _ in 0..(POLL_BURST as u32 + 3) {
            list.get(
                Instant::now(),
                || Some(TEN_A_SECOND),
                fetch(Arc::clone(&made)),
            )
            .await
            .unwrap();
        }
        assert_eq!(made.load(Ordering::SeqCst), POLL_BURST as u32 + 4);
        // 600 a minute: the three over the burst took about 0.1 s each.
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
    }

    /// With room to spare (no pace), a fetch is let out as soon as the callers already
    /// runnable have joined: no clock holds it. (It waited a quiet period of 1 ms and up to
    /// 10 ms for more callers, about 7 ms of every create's and every delete's apply at zero
    /// latency.)
    #[tokio::test(start_paused = true)]
    async fn with_room_to_spare_a_fetch_waits_for_no_clock_yet_callers_together_share_it() {
        let list: Arc<SharedList<u32>> = Arc::new(SharedList::new());
        let made = Arc::new(AtomicU32::new(0));
        let fetch = |made: Arc<AtomicU32>| {
            move || async move { Ok::<_, Error>(made.fetch_add(1, Ordering::SeqCst)) }
        };
        let began = Instant::now();
        let got = ten_at_once(&list, &made, began, None).await;
        assert_eq!(got, vec![0; 10], "callers together share one fetch");
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(
            began.elapsed(),
            Duration::ZERO,
            "a roomy fetch waited on a clock"
        );

        // Paced, a fresh fetch gathers for at least the quiet period.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let paced_from = Instant::now();
        list.get(paced_from, || Some(TEN_A_SECOND), fetch(Arc::clone(&made)))
            .await
            .unwrap();
        assert!(paced_from.elapsed() >= GATHER_QUIET);
    }

    #[tokio::test]
    async fn a_caller_never_joins_a_fetch_sent_before_it_began() {
        let list: Arc<SharedList<u32>> = Arc::new(SharedList::new());
        let made = Arc::new(AtomicU32::new(0));
        // Each fetch answers its own sequence number, 50 ms after it was let out.
        let slow = |made: Arc<AtomicU32>| {
            move || async move {
                let n = made.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, Error>(n)
            }
        };
        let first = {
            let (list, made) = (Arc::clone(&list), Arc::clone(&made));
            tokio::spawn(async move {
                list.get(Instant::now(), || Some(TEN_A_SECOND), slow(made))
                    .await
            })
        };
        // Past the longest gathering: the first fetch is on the wire.
        tokio::time::sleep(GATHER + Duration::from_millis(15)).await;
        let began = Instant::now();
        let second = list
            .get(began, || Some(TEN_A_SECOND), slow(Arc::clone(&made)))
            .await
            .unwrap();
        assert_eq!(*first.await.unwrap().unwrap(), 0);
        assert_eq!(
            *second, 1,
            "served from a fetch sent before the caller began"
        );
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}
