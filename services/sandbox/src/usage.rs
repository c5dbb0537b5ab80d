//! Reading a model answer's token usage, in every API's shape, as its
//! bytes pass through the gateway: Anthropic Messages, OpenAI Chat
//! Completions and Responses, Gemini; JSON bodies and server-sent event
//! streams alike; each token counted once ([`TokenUsage`]). Pure code.

use hookline_model::runs::TokenUsage;
use serde_json::Value;

/// The usage a whole answer (JSON, or a server-sent event stream) reports.
pub fn usage_of(body: &[u8]) -> TokenUsage {
    let mut tap = Tap::default();
    tap.feed(body);
    tap.feed(b"\n");
    tap.seen
}

/// Reads one answer's usage as its bytes pass: JSON bodies and SSE
/// `data:` lines alike. Streams report usage more than once (Anthropic:
/// input at `message_start`, the running output total at
/// `message_delta`), so the largest figures seen count, added to the run's
/// total as they grow.
#[derive(Default)]
pub(crate) struct Tap {
    pending: Vec<u8>,
    whole: Vec<u8>,
    most: Reported,
    pub(crate) seen: TokenUsage,
}

/// Most of an answer kept for reading its usage.
const MAX_TAPPED: usize = 4 * 1024 * 1024;

impl Tap {
    /// Takes more bytes; answers what the run's total grows by.
    pub(crate) fn feed(&mut self, data: &[u8]) -> TokenUsage {
        let before = self.seen;
        if self.whole.len() < MAX_TAPPED {
            self.whole.extend_from_slice(data);
        }
        self.pending.extend_from_slice(data);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(json) = line.trim().strip_prefix("data:")
                && let Ok(value) = serde_json::from_str::<Value>(json.trim())
            {
                self.observe(&value);
            }
        }
        // A plain JSON answer (or Gemini's streamed JSON array): read it
        // whole once it can be complete, not on every chunk of a long one.
        let last = self.whole.iter().rev().find(|b| !b.is_ascii_whitespace());
        if matches!(last, Some(b'}' | b']'))
            && let Ok(value) = serde_json::from_slice::<Value>(&self.whole)
        {
            match &value {
                Value::Array(items) => items.iter().for_each(|item| self.observe(item)),
                one => self.observe(one),
            }
        }
        let (now, before) = (self.seen, before);
        TokenUsage {
            calls: u64::from(before.calls == 0 && now.total() > 0),
            input_tokens: now.input_tokens - before.input_tokens,
            output_tokens: now.output_tokens - before.output_tokens,
            cache_read_tokens: now.cache_read_tokens - before.cache_read_tokens,
            cache_write_tokens: now.cache_write_tokens - before.cache_write_tokens,
            cost_micros: 0,
        }
    }

    fn observe(&mut self, value: &Value) {
        let reports = [
            value.get("usage"),
            // Anthropic's `message_start`.
            value.pointer("/message/usage"),
            // OpenAI Responses' `response.completed` (streamed).
            value.pointer("/response/usage"),
            // Gemini, streamed or not.
            value.get("usageMetadata"),
        ];
        for usage in reports.into_iter().flatten() {
            self.most.grow(&Reported::read(usage));
        }
        self.seen = self.most.usage();
        if self.seen.total() > 0 {
            self.seen.calls = 1;
        }
    }
}

/// One usage report as an API words it. Streams report more than once,
/// each time the figures so far, so the largest of each figure counts.
#[derive(Default, Clone, Copy)]
struct Reported {
    /// All input, cached included where the API counts it so (OpenAI, Gemini).
    input: u64,
    /// Cached input counted inside `input`.
    cached_inside: u64,
    output: u64,
    /// Anthropic: cached input counted beside `input`.
    cache_read_beside: u64,
    cache_write: u64,
}

impl Reported {
    fn read(usage: &Value) -> Self {
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| usage.pointer(n).and_then(Value::as_u64))
                .unwrap_or(0)
        };
        Self {
            input: field(&["/input_tokens", "/prompt_tokens", "/promptTokenCount"]),
            cached_inside: field(&[
                "/prompt_tokens_details/cached_tokens",
                "/input_tokens_details/cached_tokens",
                "/cachedContentTokenCount",
            ]),
            output: field(&["/output_tokens", "/completion_tokens"])
                + field(&["/candidatesTokenCount"])
                + field(&["/thoughtsTokenCount"]),
            cache_read_beside: field(&["/cache_read_input_tokens"]),
            cache_write: field(&["/cache_creation_input_tokens"]),
        }
    }

    fn grow(&mut self, other: &Reported) {
        self.input = self.input.max(other.input);
        self.cached_inside = self.cached_inside.max(other.cached_inside);
        self.output = self.output.max(other.output);
        self.cache_read_beside = self.cache_read_beside.max(other.cache_read_beside);
        self.cache_write = self.cache_write.max(other.cache_write);
    }

    /// Each token once ([`TokenUsage`]).
    fn usage(&self) -> TokenUsage {
        TokenUsage {
            calls: 0,
            input_tokens: self.input.saturating_sub(self.cached_inside),
            output_tokens: self.output,
            cache_read_tokens: self.cached_inside + self.cache_read_beside,
            cache_write_tokens: self.cache_write,
            cost_micros: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&str]) -> TokenUsage {
        let mut tap = Tap::default();
        let mut total = TokenUsage::default();
        for chunk in chunks {
            total.add(&tap.feed(chunk.as_bytes()));
        }
        total
    }

    fn usage(calls: u64, input: u64, output: u64, cache_read: u64, cache_write: u64) -> TokenUsage {
        TokenUsage {
            calls,
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_write_tokens: cache_write,
            cost_micros: 0,
        }
    }

    #[test]
    fn usage_is_read_from_every_api_plain_and_streamed() {
        let openai = r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}"#;
        let openai_cached = r#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":30,"prompt_tokens_details":{"cached_tokens":64}}}"#;
        let openai_stream = "data: {\"choices\":[{}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n";
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":400,\"cache_read_input_tokens\":1000,\"cache_creation_input_tokens\":200,\"output_tokens\":1}}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":600}}\n\n";
        // The Responses API (Codex): usage only in the last event.
        let responses_stream = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"usage\":null}}\n\n\
            event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n\
            event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":100,\"input_tokens_details\":{\"cached_tokens\":40},\"output_tokens\":50,\"output_tokens_details\":{\"reasoning_tokens\":10},\"total_tokens\":150}}}\n\n";
        let responses = r#"{"id":"resp_2","object":"response","output":[],"usage":{"input_tokens":80,"input_tokens_details":{"cached_tokens":0},"output_tokens":20,"total_tokens":100}}"#;
        let gemini_stream = "data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":30,\"totalTokenCount\":30}}\n\n\
            data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":30,\"cachedContentTokenCount\":10,\"candidatesTokenCount\":8,\"thoughtsTokenCount\":4}}\n\n";
        let gemini_array =
            r#"[{"candidates":[]},{"candidates":[],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3}}]"#;
        let rows: [(&str, Vec<&str>, TokenUsage); 8] = [
            (
                "OpenAI chat, split",
                vec![&openai[..20], &openai[20..]],
                usage(1, 12, 30, 0, 0),
            ),
            (
                "OpenAI chat, cached input moved out",
                vec![openai_cached],
                usage(1, 36, 30, 64, 0),
            ),
            ("OpenAI chat, streamed", vec![openai_stream], usage(1, 5, 7, 0, 0)),
            (
                "Anthropic, streamed, with cache",
                anthropic.split_inclusive("\n\n").collect(),
                usage(1, 400, 600, 1000, 200),
            ),
            ("Responses, streamed", vec![responses_stream], usage(1, 60, 50, 40, 0)),
            ("Responses, plain", vec![responses], usage(1, 80, 20, 0, 0)),
            ("Gemini, streamed SSE", vec![gemini_stream], usage(1, 20, 12, 10, 0)),
            (
                "Gemini, streamed JSON array",
                vec![&gemini_array[..30], &gemini_array[30..]],
                usage(1, 9, 3, 0, 0),
            ),
        ];
        for (what, chunks, expected) in rows {
            assert_eq!(read(&chunks), expected, "{what}");
        }
    }
}
