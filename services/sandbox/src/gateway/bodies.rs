//! The bodies of a run's model calls, kept when its agent says
//! `record_model_calls = true`: each request as the agent sent it and each
//! answer as the upstream sent it (a stream as its events), up to
//! [`MAX_BODY`] each and [`MAX_ALL`] for the run; what is cut is marked.
//! They pass the run's redaction before they are stored, as every
//! artifact does.

use std::sync::{Arc, Mutex};

/// Most bytes of one request or one answer kept.
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// Most bytes of bodies kept for one run.
pub const MAX_ALL: usize = 24 * 1024 * 1024;

/// One model call's bodies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallBody {
    /// The profile's model entry it went through.
    pub api: String,
    pub model: String,
    /// The path asked for (`/v1/messages`, `/v1/responses`, …).
    pub path: String,
    /// The upstream's HTTP status.
    pub status: u16,
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    /// Whether a body was cut at [`MAX_BODY`] or the run's [`MAX_ALL`].
    pub truncated: bool,
}

/// A run's kept bodies, shared by its gateways.
#[derive(Clone, Default)]
pub struct Bodies(Arc<Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    calls: Vec<CallBody>,
    bytes: usize,
}

impl Bodies {
    /// Starts keeping a call with its request; its index, or `None` once
    /// the run's bodies are full.
    pub(super) fn begin(&self, mut call: CallBody, request: &[u8]) -> Option<usize> {
        let mut kept = self.0.lock().ok()?;
        let room = MAX_ALL.saturating_sub(kept.bytes);
        if room == 0 {
            return None;
        }
        let take = request.len().min(MAX_BODY).min(room);
        call.request = request[..take].to_vec();
        call.truncated = take < request.len();
        kept.bytes += take;
        kept.calls.push(call);
        Some(kept.calls.len() - 1)
    }

    /// Adds `data` to the answer of call `at`.
    pub(super) fn answer(&self, at: usize, data: &[u8]) {
        let Ok(mut kept) = self.0.lock() else { return };
        let room = MAX_ALL.saturating_sub(kept.bytes);
        let Some(call) = kept.calls.get_mut(at) else { return };
        let take = data.len().min(MAX_BODY.saturating_sub(call.response.len())).min(room);
        call.response.extend_from_slice(&data[..take]);
        call.truncated |= take < data.len();
        kept.bytes += take;
    }

    /// Every call kept so far.
    pub fn calls(&self) -> Vec<CallBody> {
        self.0.lock().map(|k| k.calls.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_kept_up_to_their_limits_and_a_cut_is_marked() {
        let bodies = Bodies::default();
        let at = bodies.begin(CallBody::default(), b"{\"model\":\"m\"}").expect("room");
        bodies.answer(at, b"event: one\n");
        bodies.answer(at, b"event: two\n");
        let calls = bodies.calls();
        assert_eq!(calls[0].request, b"{\"model\":\"m\"}");
        assert_eq!(calls[0].response, b"event: one\nevent: two\n");
        assert!(!calls[0].truncated);

        let large = vec![b'x'; MAX_BODY + 10];
        let at = bodies.begin(CallBody::default(), &large).expect("room");
        bodies.answer(at, &large);
        let call = &bodies.calls()[at];
        assert_eq!((call.request.len(), call.response.len()), (MAX_BODY, MAX_BODY));
        assert!(call.truncated);

        // Once the run's bodies are full, no more calls are kept.
        let full = Bodies::default();
        for _ in 0..MAX_ALL / MAX_BODY {
            full.begin(CallBody::default(), &large).expect("room");
        }
        assert_eq!(full.begin(CallBody::default(), b"{}"), None);
    }
}
