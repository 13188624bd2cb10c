//! What both faces of `oslo-listen` do with each notification, in one order: a `--fail-on`
//! program that holds ends the run; then the filters (`--event`, `--publisher`,
//! `--priority`...), then every `--where` program, must let it through; then it is taken and
//! counted towards `--count`.

use super::document::Document;
use super::metrics::Metrics;
use super::predicate::Predicate;
use super::{CountNotReached, FailureNotification, ListenConfig};
use crate::engine::receive::{Ended, Received, Verdict};
use crate::events::Weight;
use crate::tool::talk::Talk;
use anyhow::Result;

/// What to do with a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A `--fail-on` program held for it: show it, and end the run (exit 5).
    Fail(FailureNotification),
    /// Not one that counts: leave it.
    Skip,
    /// Take it (show, save or tally it), then call [`Pipeline::taken`].
    Take,
}

/// The steps, with what they need: the configuration, the voice that reports a program's
/// failure, and the count so far.
pub struct Pipeline<'a> {
    config: &'a ListenConfig,
    talk: Talk,
    taken: u64,
    metrics: Option<&'a Metrics>,
}

impl<'a> Pipeline<'a> {
    /// The steps `config` asks for; a program that fails on a notification is said on `talk`
    /// at `-v`.
    pub fn new(config: &'a ListenConfig, talk: Talk) -> Self {
        Pipeline {
            config,
            talk,
            taken: 0,
            metrics: None,
        }
    }

    /// Counts in `metrics` each notification that is taken or fails the run.
    pub fn counting(mut self, metrics: Option<&'a Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Which step `received` stops at.
    pub fn judge(&mut self, received: &Received) -> Result<Step> {
        let step = self.step(received)?;
        if let (Some(metrics), Step::Take | Step::Fail(_)) = (self.metrics, &step) {
            metrics.record(received);
        }
        Ok(step)
    }

    fn step(&mut self, received: &Received) -> Result<Step> {
        let n = received.message;
        let mut document = None;
        for program in &self.config.fail_on {
            if self.holds(program, received, &mut document)? {
                return Ok(Step::Fail(FailureNotification {
                    event_type: n.event_type.clone(),
                    publisher_id: n.publisher_id.clone(),
                    message_id: n.message_id.clone(),
                }));
            }
        }
        if !self.config.filter.matches(n) {
            return Ok(Step::Skip);
        }
        for program in &self.config.wheres {
            if !self.holds(program, received, &mut document)? {
                return Ok(Step::Skip);
            }
        }
        Ok(Step::Take)
    }

    /// Counts one taken notification; says stop once `--count` is reached.
    pub fn taken(&mut self) -> Verdict {
        self.taken += 1;
        match self.config.count {
            Some(count) if self.taken >= count => Verdict::DoneAndStop,
            _ => Verdict::Done,
        }
    }

    /// The error of a run that `ended` (its `--timeout` passed, or its input ended) before
    /// `--count` was reached.
    pub fn not_reached(&self, ended: Ended) -> CountNotReached {
        CountNotReached::of(self.config, self.taken, ended)
    }

    /// Whether `program` holds for `received`: straight from the message where it can be
    /// ([`Predicate::judge_quickly`]), else on the `--format json` object, made once per
    /// notification in `document`. A program that fails on it does not hold, and says so at
    /// `-v`.
    fn holds(
        &self,
        program: &Predicate,
        received: &Received,
        document: &mut Option<Document>,
    ) -> Result<bool> {
        let show_secrets = self.config.printer.show_secrets;
        if let Some(holds) = program.judge_quickly(received, show_secrets) {
            return Ok(holds);
        }
        let document = match document {
            Some(document) => document,
            None => document
                .insert(Document::of(received, show_secrets).map_err(std::io::Error::other)?),
        };
        Ok(match program.judge(document) {
            Ok(judged) => {
                if let Some(advice) = judged.advice {
                    let _ = self.talk.warn(format_args!("{advice}"));
                }
                judged.holds
            }
            Err(why) => {
                let line = format_args!(
                    "{:?} failed on notification {}: {why}",
                    program.code(),
                    received.message.message_id
                );
                let _ = self.talk.say(Weight::Detail, line);
                false
            }
        })
    }
}
