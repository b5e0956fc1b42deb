//! The one stream protocol of the crate: a configuration handed over in canonical order, the
//! configuration outside the PIs first, then the PIs one at a time, so that nothing on either
//! side needs all of it in memory.
//!
//! Stores produce it (`Store::stream_snapshot`) and consume it (a replacement's write); the
//! archive writer, the content digester, the semantic checker and the import planner consume it.
//! [`Tee`] feeds an [`Observer`] and a sink from one read.

use crate::error::Result;
use crate::model::{ApiToken, Configuration, Pi};

/// Receives a configuration: [`ConfigSink::start`] once with everything but the PIs (its `pis`
/// are ignored), then [`ConfigSink::pi`] for each PI in key order, then [`ConfigSink::finish`].
pub trait ConfigSink {
    /// Everything but the PIs, in canonical order, and the REST API token metadata.
    ///
    /// # Errors
    ///
    /// Whatever stops the consumer; the producer stops too.
    fn start(&mut self, config: &Configuration, api_tokens: &[ApiToken]) -> Result<()>;

    /// One PI, complete, its children in canonical order.
    ///
    /// # Errors
    ///
    /// As [`ConfigSink::start`].
    fn pi(&mut self, pi: Pi) -> Result<()>;

    /// The configuration is complete.
    ///
    /// # Errors
    ///
    /// As [`ConfigSink::start`].
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

impl<S: ConfigSink + ?Sized> ConfigSink for &mut S {
    fn start(&mut self, config: &Configuration, api_tokens: &[ApiToken]) -> Result<()> {
        (**self).start(config, api_tokens)
    }

    fn pi(&mut self, pi: Pi) -> Result<()> {
        (**self).pi(pi)
    }

    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
}

/// Looks at a configuration stream without taking it: a checker, a digester, a planner.
pub trait Observer {
    /// As [`ConfigSink::start`].
    ///
    /// # Errors
    ///
    /// Whatever stops the observer; the producer stops too.
    fn start(&mut self, config: &Configuration, api_tokens: &[ApiToken]) -> Result<()>;

    /// As [`ConfigSink::pi`], by reference.
    ///
    /// # Errors
    ///
    /// As [`Observer::start`].
    fn pi(&mut self, pi: &Pi) -> Result<()>;
}

/// One stream to two consumers: `observer` looks at each part, then `sink` takes it (no copy).
#[derive(Debug)]
pub struct Tee<O, S> {
    /// Sees every part first.
    pub observer: O,
    /// Then takes it.
    pub sink: S,
}

impl<O: Observer, S: ConfigSink> ConfigSink for Tee<O, S> {
    fn start(&mut self, config: &Configuration, api_tokens: &[ApiToken]) -> Result<()> {
        self.observer.start(config, api_tokens)?;
        self.sink.start(config, api_tokens)
    }

    fn pi(&mut self, pi: Pi) -> Result<()> {
        self.observer.pi(&pi)?;
        self.sink.pi(pi)
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.finish()
    }
}

/// Collects the stream into a [`Snapshot`](crate::store::Snapshot)-like pair: the whole
/// configuration and the token metadata.
#[derive(Debug, Default)]
pub struct Collect {
    /// The configuration, PIs included once finished.
    pub config: Option<Configuration>,
    /// The token metadata.
    pub api_tokens: Vec<ApiToken>,
    pis: Vec<Pi>,
}

impl Collect {
    /// The configuration collected, PIs included.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Internal`] when the stream never started.
    pub fn into_parts(self) -> Result<(Configuration, Vec<ApiToken>)> {
        let mut config = self
            .config
            .ok_or_else(|| crate::error::Error::Internal("the configuration stream never started".into()))?;
        config.pis = self.pis;
        Ok((config, self.api_tokens))
    }
}

impl ConfigSink for Collect {
    fn start(&mut self, config: &Configuration, api_tokens: &[ApiToken]) -> Result<()> {
        let mut config = config.clone();
        config.pis = Vec::new();
        self.config = Some(config);
        self.api_tokens = api_tokens.to_vec();
        Ok(())
    }

    fn pi(&mut self, pi: Pi) -> Result<()> {
        self.pis.push(pi);
        Ok(())
    }
}

/// Streams a configuration held in memory into `sink` (its PIs are expected in key order).
///
/// # Errors
///
/// Any error of `sink`.
pub fn feed(config: &Configuration, api_tokens: &[ApiToken], sink: &mut dyn ConfigSink) -> Result<()> {
    sink.start(config, api_tokens)?;
    for pi in &config.pis {
        sink.pi(pi.clone())?;
    }
    sink.finish()
}
