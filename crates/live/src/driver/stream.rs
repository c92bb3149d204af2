//! Streaming: `chat_stream` and the [`ChatStream`] a caller reads.
//!
//! A stream that has delivered its first token is committed: if it breaks later the caller
//! gets `stream_interrupted`, never a truncated success. A stream that ends cleanly after its
//! finish reason is complete, `[DONE]` or not.
//!
//! Resume (a route's `resume: prefill`): when the committed stream breaks after delivering
//! text (a cut, a stall past the idle timeout or the stream cap, a malformed or error event),
//! [`ChatStream`] records the break with the tokens it delivered (estimated from the text,
//! [`estimate_tokens_from_chars`]) and follows the core: the continuation goes to the target
//! it names as the request plus the text the caller received, across every break, as a final
//! assistant message (trailing whitespace trimmed), with `max_tokens` reduced by the tokens
//! delivered (at least 1). It waits for the continuation's first token under the usual
//! timeouts and then yields only the continuation's text, as more `Delta`s of the same
//! stream. A stream that delivered a tool call, or more text than one reply body may hold
//! (`limits.max_body_bytes`), is not continued. When no continuation completes, the caller
//! gets the first break's error (`stream_interrupted` for a cut), never a refusal's.

use std::collections::VecDeque;
use std::sync::Arc;

use http_body_util::BodyExt;
use switchyard_core::dialect::estimate_tokens_from_chars;
use switchyard_core::dialect::upstream::UpstreamError;
use switchyard_core::id::{RouteId, TargetId};
use switchyard_core::outcome::{
    AttemptRecord, AttemptReport, ErrorKind, FailureReason, FinalOutcome, Outcome,
};
use switchyard_core::plan::AttemptId;
use switchyard_core::request::{FinishReason, Message, Request, Role, ToolCall, Usage};
use switchyard_core::router::ResumeMode;
use switchyard_core::time::Duration;

use super::attempt::{OpenStream, Won, estimate_prompt, within};
use super::plan_loop::{AttemptSink, PlanGuard, Said};
use super::{Driver, RouteError};
use crate::adapter::{self, Piece};

mod booking;
pub use booking::StreamBooking;

/// What a streaming request yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// Text, in order.
    Delta(String),
    /// A piece of a tool call, in OpenAI's streaming shape: the first piece of call `index`
    /// (0, 1, ... counting tool calls only) carries its `id` and `name`; later pieces carry
    /// only more `arguments` text, to be concatenated. A dialect that delivers a call whole
    /// (Gemini) gives one piece with everything.
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// The stream completed. `tool_calls` are the calls its pieces made, assembled.
    ///
    /// `usage` is the serving attempt's, as reported (or estimated). For a stream that was
    /// continued after a break, it is the answer's as the caller received it: the prompt of
    /// the first attempt (as reported before the break, else the request's estimate) and,
    /// as completion, the tokens delivered before the breaks plus the continuation's.
    End {
        finish: FinishReason,
        usage: Usage,
        tool_calls: Vec<ToolCall>,
    },
}

/// What [`ChatStream::next_item`] yields: an event, or a chunk as its target sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamItem {
    Event(StreamEvent),
    /// A chunk of the committed attempt as it came, before the events it carries: only for a
    /// request whose client spoke OpenAI and asked for the reply as it comes
    /// ([`Original::raw_reply`](switchyard_core::request::Original)), from an OpenAI or Azure
    /// OpenAI target, and never from a continuation (see [`ChatStream::forwards_raw`]).
    Raw(adapter::RawEvent),
}

impl From<Piece> for StreamItem {
    fn from(p: Piece) -> Self {
        StreamItem::Event(match p {
            Piece::Text(t) => StreamEvent::Delta(t),
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => StreamEvent::ToolCall {
                index,
                id,
                name,
                arguments,
            },
            Piece::Raw(raw) => return StreamItem::Raw(raw),
        })
    }
}

/// A streaming reply: which target serves it, and its events. It owns its request's plan:
/// dropping it before the end abandons the request (recorded `cancelled` / `abandoned`).
/// The attempt it was streaming is booked with what it generated: the provider bills the
/// prompt and every token it sent, read or not. Its prompt tokens as the stream reported
/// them (Anthropic's `message_start`), else the request's estimate; its completion tokens
/// as the stream reported them, else estimated from the text received so far (four
/// characters a token, as for a stream without usage); priced, counted in telemetry and
/// spent against cost caps as any attempt's (see [`StreamBooking`]).
#[derive(Debug)]
pub struct ChatStream {
    pub served_by: TargetId,
    /// The route the request is booked on (`Plan::home_route`), as for a reply.
    pub route: Option<RouteId>,
    pub target: String,
    pub model: String,
    /// The attempts so far, in the order they were sent. The stream's own attempt is at
    /// `committed` (not always last: a hedge sent after it is among them, cancelled); its
    /// record's outcome is not known yet.
    pub attempts: Vec<AttemptRecord>,
    pub committed: usize,
    /// From sending the stream's attempt to its first token.
    pub first_token: Duration,
    guard: PlanGuard,
    attempt: AttemptId,
    open: Box<OpenStream>,
    queued: VecDeque<Piece>,
    /// What the upstream said when the stream broke with an error event.
    said: Option<Box<UpstreamError>>,
    /// The usage the event that broke the stream reported (a Gemini refusal's
    /// `usageMetadata`): the attempt is booked it rather than an estimate.
    said_usage: Option<Usage>,
    /// Set once the stream ended: what `next` yields after the queued text.
    end: Option<Result<StreamEvent, RouteError>>,
    over: bool,
    /// What a continuation needs and what the caller received (see the module doc).
    resume: Box<ResumeState>,
    /// Filled when the stream is dropped before its end.
    booking: StreamBooking,
}

/// A stream's record of what reached its caller, for continuing it after a break.
#[derive(Debug)]
struct ResumeState {
    request: Arc<Request>,
    /// The route resumes, and the text so far fits (`limits.max_body_bytes`).
    enabled: bool,
    /// Bytes of text a continuation may carry back as its prefill.
    max_bytes: usize,
    /// The text the caller received, across every attempt (kept only while `enabled`).
    text: String,
    /// Characters of text the current attempt delivered.
    attempt_chars: usize,
    /// A tool call reached the caller: a prefill cannot carry it.
    tool_call: bool,
    /// The committed attempt broke; `next` sends a continuation before reading on.
    pending: bool,
    /// The caller already has whitespace the prefill left out (it is trimmed, as Anthropic
    /// requires): the continuation's leading whitespace, which says it again, is skipped.
    skip_leading_whitespace: bool,
    /// Set at the first break: the tokens delivered by broken attempts, the first attempt's
    /// prompt (tokens, cached), and what the upstream said about that first break.
    broke: Option<Broke>,
}

#[derive(Debug)]
struct Broke {
    delivered: u32,
    prompt: (u32, u32),
    said: Option<Box<UpstreamError>>,
}

impl ResumeState {
    /// A piece on its way to the caller.
    fn deliver(&mut self, piece: &Piece) {
        match piece {
            Piece::Text(t) => {
                self.attempt_chars = self.attempt_chars.saturating_add(t.chars().count());
                if self.enabled {
                    if self.text.len().saturating_add(t.len()) > self.max_bytes {
                        self.enabled = false;
                        self.text = String::new();
                    } else {
                        self.text.push_str(t);
                    }
                }
            }
            Piece::ToolCall { .. } => self.tool_call = true,
            Piece::Raw(_) => {}
        }
    }

    /// The request a continuation sends: the caller's, with the text it received as a final
    /// assistant message (none when that text is only whitespace), the output left, and the
    /// prefill counted in the prompt estimate. Never the client's own body: that one has no
    /// prefill.
    fn continuation(&self, delivered_tokens: u32) -> Request {
        let mut request = Request::clone(&self.request);
        let prefix = self.text.trim_end();
        if !prefix.is_empty() {
            request
                .messages
                .push(Message::text(Role::Assistant, prefix.to_owned()));
        }
        request.max_tokens = request
            .max_tokens
            .map(|m| m.saturating_sub(delivered_tokens).max(1));
        request.estimated_prompt_tokens = request
            .estimated_prompt_tokens
            .saturating_add(delivered_tokens);
        request.original = None;
        request.stream = true;
        request
    }
}

impl ChatStream {
    /// Every attempt so far, in order, with its outcome when known (the attempt streaming
    /// now is still `cancelled` in it).
    pub fn history(&self) -> Vec<AttemptRecord> {
        self.guard.plan.history().copied().collect()
    }

    /// What the request's attempts cost so far, and the part spent on attempts that did not
    /// succeed (`Plan::cost`, `Plan::wasted_cost`): once the stream ended, every attempt's.
    pub fn cost(&self) -> (f64, f64) {
        (self.guard.plan.cost(), self.guard.plan.wasted_cost())
    }

    /// Whether some of the tokens behind [`ChatStream::cost`] (and, once it ended, its
    /// `End`'s usage) are estimates (`Plan::tokens_estimated`): a stream that carried no
    /// usage, an attempt cancelled before its first token.
    pub fn tokens_estimated(&self) -> bool {
        self.guard.plan.tokens_estimated()
    }

    /// Where the stream's tokens and cost are put should it be dropped before its end.
    pub fn booking(&self) -> StreamBooking {
        self.booking.clone()
    }

    /// Whether the stream broke after its first token on a route that resumes and a
    /// continuation completed it: `Some(true)` once it was served so, `Some(false)` once it
    /// failed so, `None` otherwise (no such break, not over, or the caller left).
    pub fn resumed(&self) -> Option<bool> {
        self.guard.plan.continuation()?;
        match self.guard.plan.outcome()? {
            FinalOutcome::Served(_) => Some(true),
            FinalOutcome::Failed(FailureReason::Abandoned) => None,
            FinalOutcome::Failed(_) => Some(false),
        }
    }

    /// The next event; `None` after `End` or an error.
    ///
    /// Cancel-safe: a call dropped while a continuation was on its way records that
    /// continuation `cancelled`, and the next call goes on with the plan.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, RouteError>> {
        loop {
            match self.next_item().await? {
                Ok(StreamItem::Event(e)) => return Some(Ok(e)),
                Ok(StreamItem::Raw(_)) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Whether the committed attempt's chunks come as they came ([`StreamItem::Raw`]): then
    /// each text and tool-call event follows the raw chunk that carried it. False for a
    /// continuation (its request is not the client's), and from then on for the rest of the
    /// stream.
    pub fn forwards_raw(&self) -> bool {
        self.open.decoder.forwards_raw()
    }

    /// As [`next`](Self::next), with the committed attempt's chunks as they came, when it
    /// [`forwards_raw`](Self::forwards_raw).
    pub async fn next_item(&mut self) -> Option<Result<StreamItem, RouteError>> {
        loop {
            if let Some(mut piece) = self.queued.pop_front() {
                if self.resume.skip_leading_whitespace
                    && let Piece::Text(t) = &mut piece
                {
                    let kept = t.trim_start();
                    if kept.is_empty() {
                        continue;
                    }
                    *t = kept.to_owned();
                    self.resume.skip_leading_whitespace = false;
                }
                if matches!(piece, Piece::ToolCall { .. }) {
                    self.resume.skip_leading_whitespace = false;
                }
                self.resume.deliver(&piece);
                return Some(Ok(piece.into()));
            }
            if self.over {
                return None;
            }
            if let Some(end) = self.end.take() {
                self.over = true;
                self.guard.told();
                return Some(end.map(StreamItem::Event));
            }
            if self.resume.pending {
                // Boxed: a continuation is rare, and its future would make every call's
                // future (polled once a chunk) as large as its own.
                if let Err(e) = Box::pin(self.continue_stream()).await {
                    self.end = Some(Err(e));
                }
                continue;
            }
            let ended = self.pull().await;
            if let Some(result) = ended {
                self.end = self.close(result);
            }
        }
    }

    /// Reads the upstream until it yields text or ends; `Some` when it ended.
    async fn pull(&mut self) -> Option<Result<adapter::StreamEnd, ErrorKind>> {
        let open = &mut self.open;
        if open.decoder.done {
            return Some(open.decoder.end());
        }
        let idle = open.timeouts.idle.map_or(open.cap, |i| {
            open.cap.min(tokio::time::Instant::now() + i.into())
        });
        // The attempt's one timer, the first token's until now, moved on at each read
        // (`within`).
        open.timer.as_mut().reset(idle);
        let read = within(open.timer.as_mut(), open.body.frame());
        // A break once the answer's finish reason came (a cut or a stall before `[DONE]` or
        // the usage chunk) ends it as complete, as a clean close there does: its text is all
        // there, and a continuation would add text after the client's finish.
        let broke = |open: &OpenStream| match open.decoder.finish {
            Some(_) => open.decoder.end(),
            None => Err(ErrorKind::StreamInterrupted),
        };
        match read.await {
            // Silent past the idle timeout, or past the stream cap.
            Err(()) => Some(broke(open)),
            Ok(None) => Some(open.decoder.end()),
            Ok(Some(Err(_))) => Some(broke(open)),
            Ok(Some(Ok(frame))) => {
                let data = frame.into_data().ok()?;
                match open.decoder.feed(&data) {
                    Ok(pieces) => {
                        self.queued.extend(pieces);
                        None
                    }
                    Err(_) if open.decoder.finish.is_some() => Some(open.decoder.end()),
                    // After the first token, any breakage is an interrupted stream.
                    Err(failure) => {
                        self.said = failure.upstream;
                        self.said_usage = failure.usage;
                        Some(Err(ErrorKind::StreamInterrupted))
                    }
                }
            }
        }
    }

    /// The completion the event that broke the stream reported (`said`), the caller having
    /// received `delivered` tokens of text (estimated): Gemini's counts are cumulative, and a
    /// refusal often carries only `promptTokenCount` (its completion then reads 0), so the
    /// count is the larger of its own and the stream's latest; `None` when neither counted a
    /// token of text the caller received (booked the estimate, as `usage_missing`).
    fn said_completion(&self, said: Option<Usage>, delivered: u32) -> Option<u32> {
        said.map(|u| {
            u.completion_tokens
                .max(self.open.decoder.reported_completion().unwrap_or(0))
        })
        .filter(|&n| n > 0 || delivered == 0)
    }

    /// Records how the committed attempt ended and turns it into the stream's last event;
    /// `None` when it broke and the core goes on with a continuation.
    fn close(
        &mut self,
        result: Result<adapter::StreamEnd, ErrorKind>,
    ) -> Option<Result<StreamEvent, RouteError>> {
        let latency = Duration::from(self.open.started.elapsed());
        let first_token = Some(Duration::from(self.open.first_token));
        let result = result.map(|mut end| {
            estimate_prompt(&mut end.usage, end.usage_missing, self.open.prompt_estimate);
            end
        });
        // What reached the caller from this attempt, counted as the adapters estimate it.
        let delivered = estimate_tokens_from_chars(self.resume.attempt_chars);
        let said_usage = self.said_usage.take();
        let said_completion = self.said_completion(said_usage, delivered);
        let prompt = said_usage
            .map(|u| (u.prompt_tokens, u.cached_prompt_tokens))
            .or_else(|| self.open.decoder.reported_prompt())
            .unwrap_or((self.open.prompt_estimate, 0));
        let report = match &result {
            Ok(end) => AttemptReport {
                first_token,
                prompt_tokens: end.usage.prompt_tokens,
                cached_prompt_tokens: end.usage.cached_prompt_tokens,
                completion_tokens: end.usage.completion_tokens,
                delivered_tokens: true,
                usage_missing: end.usage_missing,
                ..AttemptReport::new(Outcome::Success, latency)
            },
            Err(kind) => AttemptReport {
                first_token,
                prompt_tokens: prompt.0,
                cached_prompt_tokens: prompt.1,
                completion_tokens: said_completion.unwrap_or(delivered),
                delivered_tokens: true,
                // The completion is the text's estimate (and the prompt the request's, unless
                // reported): a broken stream's usage chunk never came, unless the event that
                // broke it carried the usage (a Gemini refusal).
                usage_missing: said_completion.is_none(),
                ..AttemptReport::new(Outcome::error(*kind), latency)
            },
        };
        let said = self.said.take();
        if result.is_err() {
            let broke = self.resume.broke.get_or_insert(Broke {
                delivered: 0,
                prompt,
                said,
            });
            broke.delivered = broke.delivered.saturating_add(delivered);
        }
        let driver = self.guard.driver.clone();
        let now = driver.now();
        if !self.resume.enabled || self.resume.tool_call {
            // What the caller holds cannot be sent back as a prefill.
            self.guard.plan.forbid_resume();
        }
        driver
            .core()
            .record(&mut self.guard.plan, self.attempt, report, now);
        match result {
            Ok(end) => {
                let usage = match &self.resume.broke {
                    Some(b) => Usage {
                        prompt_tokens: b.prompt.0,
                        cached_prompt_tokens: b.prompt.1,
                        completion_tokens: b.delivered.saturating_add(end.usage.completion_tokens),
                    },
                    None => end.usage,
                };
                Some(Ok(StreamEvent::End {
                    finish: end.finish,
                    usage,
                    tool_calls: end.tool_calls,
                }))
            }
            Err(_) if self.guard.plan.outcome().is_none() => {
                self.resume.pending = true;
                None
            }
            Err(_) => Some(Err(self.broken_error())),
        }
    }

    /// The request's error after a break: the core's (the first break's kind), with what the
    /// upstream said about that first break, never what a continuation's target said.
    fn broken_error(&mut self) -> RouteError {
        let driver = self.guard.driver.clone();
        let mut e = driver.error(&self.guard.plan, None, &[]);
        e.upstream = self.resume.broke.as_mut().and_then(|b| b.said.take());
        e
    }

    /// Sends continuations as the core says until one yields its first token (it becomes the
    /// stream's attempt) or the plan ends (the error to give the caller).
    async fn continue_stream(&mut self) -> Result<(), RouteError> {
        let driver = self.guard.driver.clone();
        let plan = &mut self.guard.plan;
        // A continuation left outstanding by a dropped call: its wait is gone.
        let now = driver.now();
        for i in 0..plan.attempts() {
            let id = AttemptId(u8::try_from(i).unwrap_or(u8::MAX));
            // Sent its prompt: booked the estimate (`Router::give_up`).
            driver.core().give_up(plan, id, now);
        }
        let delivered = plan.continuation().map_or(0, |c| c.delivered_tokens);
        let request = Arc::new(self.resume.continuation(delivered));
        let text = &self.resume.text;
        self.resume.skip_leading_whitespace = text.trim_end().len() < text.len();
        let mut said = Said::new();
        let won = driver.run(plan, &request, &mut said, now).await;
        self.resume.pending = false;
        let Some((Won::Stream(mut open), attempt, target)) = won else {
            return Err(self.broken_error());
        };
        let (name, model) = driver.target_names(target);
        self.served_by = target;
        self.target = name.to_owned();
        self.model = model.to_owned();
        self.attempts = self.guard.plan.history().copied().collect();
        self.committed = usize::from(attempt.0);
        self.queued = std::mem::take(&mut open.first).into();
        self.open = open;
        self.attempt = attempt;
        self.resume.attempt_chars = 0;
        Ok(())
    }
}

impl Driver {
    /// Sends a streaming request. Returns once a target delivered its first token (failing
    /// over until then); the stream then yields the rest as it arrives. Dropping the future,
    /// or the stream before its end, abandons the request.
    pub async fn chat_stream(&self, request: Request) -> Result<ChatStream, RouteError> {
        self.chat_stream_into(request, None).await
    }

    /// As [`chat_stream`](Self::chat_stream), writing the request's attempts into `sink`
    /// should the caller give up on it: the future dropped before it returns, or the stream
    /// before its last event (see [`AttemptSink`]).
    pub async fn chat_stream_into(
        &self,
        request: Request,
        sink: Option<AttemptSink>,
    ) -> Result<ChatStream, RouteError> {
        let request = Arc::new(Request {
            stream: true,
            ..request
        });
        let mut guard = self.begin(&request, sink);
        let mut said = Said::new();
        let (mut open, attempt, target) = match self
            .run(&mut guard.plan, &request, &mut said, guard.begun)
            .await
        {
            Some((Won::Stream(open), attempt, target)) => (open, attempt, target),
            Some((Won::Reply { .. }, _, _)) | None => {
                guard.told();
                return Err(self.error(&guard.plan, Some(&request), &said));
            }
        };
        // The client's own body is not sent again (a continuation sends a body of its own):
        // it goes now, not with the stream, which may last minutes (the body can be a slice of
        // the client connection's whole read buffer).
        let mut request = request;
        if let Some(r) = Arc::get_mut(&mut request) {
            r.original = None;
        }
        let binding = &self.inner.bindings[target.index()];
        let resumes = guard
            .plan
            .route()
            .is_some_and(|r| self.core().params().route(r).resume == ResumeMode::Prefill);
        let resume = Box::new(ResumeState {
            request,
            enabled: resumes,
            max_bytes: self.inner.limits.max_body_bytes,
            text: String::new(),
            attempt_chars: 0,
            tool_call: false,
            pending: false,
            skip_leading_whitespace: false,
            broke: None,
        });
        Ok(ChatStream {
            served_by: target,
            route: guard.plan.home_route(),
            target: binding.name.clone(),
            model: binding.model.clone(),
            attempts: guard.plan.history().copied().collect(),
            committed: usize::from(attempt.0),
            first_token: Duration::from(open.first_token),
            queued: std::mem::take(&mut open.first).into(),
            said: None,
            said_usage: None,
            guard,
            attempt,
            open,
            end: None,
            over: false,
            resume,
            booking: StreamBooking::default(),
        })
    }
}
