//! Pass 2: the whole document again, as a pipeline of threads that read, hash and check the
//! PIs and hand them on in document order.

use super::*;

/// How many threads parse and check PIs in pass 2.
///
/// One per core: the reading and hashing stages are shorter than parsing and checking, and the
/// threads share the cores (BENCHMARKS.md has the measurements).
pub(super) fn checkers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get).clamp(1, 4)
}

/// Pass 2 (see the module documentation); `consume` gets the PIs in document order on this
/// thread (none unless `hand_over`), and its result is returned beside the verdict.
pub(super) fn pipeline<R: Read + Send, T>(
    reader: R,
    limits: &Limits,
    skeleton: &Skeleton,
    hand_over: bool,
    consume: impl FnOnce(&mut dyn Iterator<Item = Pi>) -> T,
) -> (Result<Streamed, FallBack>, T) {
    let validator = Validator::new(&skeleton.data);
    let validator = &validator;
    std::thread::scope(|scope| {
        let n = checkers();
        let (hash_tx, hash_rx) = sync_channel::<Arc<Run>>(QUEUE);
        let mut run_txs = Vec::with_capacity(n);
        let mut out_rxs = Vec::with_capacity(n);
        let mut checking = Vec::with_capacity(n);
        for _ in 0..n {
            let (run_tx, run_rx) = sync_channel::<Arc<Run>>(QUEUE);
            let (out_tx, out_rx) = sync_channel::<Vec<Pi>>(QUEUE);
            run_txs.push(run_tx);
            out_rxs.push(out_rx);
            let out = hand_over.then_some(out_tx);
            checking.push(scope.spawn(move || check_runs(validator, run_rx, out, limits)));
        }
        let sinks = Sinks { hasher: hash_tx, checkers: run_txs, sent: 0 };
        let reading = scope.spawn(move || pass_two(reader, limits, skeleton, sinks));
        let hashing = scope.spawn(move || hash_runs(skeleton, hash_rx));
        // Without `hand_over` the checkers hold no senders, and this iterator ends at once.
        let consumed = consume(&mut InOrder::new(out_rxs));
        let panicked = |_| give_up("a stage of the pipeline panicked");
        let read = reading.join().unwrap_or_else(|e| Err(panicked(e)));
        let hashed = hashing.join().unwrap_or_else(|e| Err(panicked(e)));
        let mut checked = Ok(Vec::new());
        for handle in checking {
            match (handle.join().unwrap_or_else(|e| Err(panicked(e))), &mut checked) {
                (Ok(runs), Ok(all)) => all.extend(runs),
                (Err(e), Ok(_)) => checked = Err(e),
                (_, Err(_)) => {}
            }
        }
        // The reading stage's reason first: the others mostly stop because it did.
        let verdict = read.and(checked).and_then(|checked| {
            let hashed = hashed?;
            if !skeleton_within(skeleton, limits.max_entity) {
                return Err(give_up("an entity outside the PIs is over the entity limit"));
            }
            verdict(skeleton, validator, hashed, checked)
        });
        (verdict, consumed)
    })
}

/// A run of consecutive PIs, as the reading stage of pass 2 hands them to the hashing stage and
/// to one checking stage.
pub(super) struct Run {
    /// Position in `/data/pis` of the run's first PI.
    pub(super) first: usize,
    /// The buffer `region` is in.
    pub(super) bytes: Vec<u8>,
    /// The PIs' bytes in `bytes`: for a compact array exactly as in the file, commas between
    /// PIs included; otherwise each PI's bytes, one after the other.
    pub(super) region: Range<usize>,
    /// Where in `region` (counted from its start) each PI is.
    pub(super) spans: Vec<Range<usize>>,
    /// Whether `region` is a stretch of a compact PI array.
    pub(super) compact: bool,
    /// Where `bytes` goes when the run is dropped, to be read into again (see [`Pool`]).
    pub(super) pool: Option<SyncSender<Vec<u8>>>,
}

impl Run {
    pub(super) fn loose(first: usize) -> Self {
        Run { first, bytes: Vec::new(), region: 0..0, spans: Vec::with_capacity(PI_RUN), compact: false, pool: None }
    }

    /// Adds a PI to a loose run.
    pub(super) fn push(&mut self, raw: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(raw);
        self.spans.push(start..self.bytes.len());
        self.region = 0..self.bytes.len();
    }

    pub(super) fn is_full(&self) -> bool {
        self.spans.len() >= PI_RUN || self.region.len() >= RUN_BYTES
    }

    pub(super) fn text(&self) -> &[u8] {
        &self.bytes[self.region.clone()]
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // A buffer that a large PI made grow is freed rather than kept, so that the pool holds
        // buffers of the usual size only. A full pool (or a reading stage that is gone) only
        // means this buffer is freed too.
        if let Some(pool) = &self.pool
            && self.bytes.capacity() <= 2 * POOL_BUFFER
        {
            let _ = pool.try_send(std::mem::take(&mut self.bytes));
        }
    }
}

/// The size of a buffer from the [`Pool`]: a run and a read.
pub(super) const POOL_BUFFER: usize = RUN_BYTES + 2 * CHUNK;

/// Buffers that runs of a compact PI array leave behind, for the reading stage to decompress
/// into again: memory that is used again costs nothing, while the kernel clears every fresh
/// page it hands out (a tenth of the reading stage's time before).
pub(super) struct Pool {
    pub(super) give: SyncSender<Vec<u8>>,
    pub(super) take: Receiver<Vec<u8>>,
}

impl Pool {
    pub(super) fn new() -> Self {
        // As many as can be in flight: a run waiting for or being hashed, and for or being
        // checked, on each checker.
        let (give, take) = sync_channel(4 * QUEUE);
        Pool { give, take }
    }

    /// A buffer from the pool, or a new one large enough for a run and a read: a buffer that
    /// grows as it fills is copied each time it does.
    pub(super) fn buffer(&self) -> Vec<u8> {
        self.take.try_recv().unwrap_or_else(|_| vec![0; POOL_BUFFER])
    }
}

/// Where the reading stage sends runs: every run to the hasher, and to the checkers in turn
/// (run `k` to checker `k % n`, where [`InOrder`] expects it).
pub(super) struct Sinks {
    pub(super) hasher: SyncSender<Arc<Run>>,
    pub(super) checkers: Vec<SyncSender<Arc<Run>>>,
    pub(super) sent: usize,
}

impl Sinks {
    /// A failed send means a stage stopped (it gave up, or the consumer did).
    pub(super) fn send(&mut self, run: Run) -> Step<()> {
        if run.spans.is_empty() {
            return Ok(());
        }
        let run = Arc::new(run);
        self.hasher.send(Arc::clone(&run)).map_err(|_| give_up("a stage of the pipeline stopped"))?;
        let checker = &self.checkers[self.sent % self.checkers.len()];
        self.sent += 1;
        checker.send(run).map_err(|_| give_up("a stage of the pipeline stopped"))
    }
}

/// The PIs of the checkers' runs in document order: run `k` comes from checker `k % n`.
pub(super) struct InOrder {
    pub(super) sources: Vec<Receiver<Vec<Pi>>>,
    pub(super) next: usize,
    pub(super) current: std::vec::IntoIter<Pi>,
    pub(super) done: bool,
}

impl InOrder {
    pub(super) fn new(sources: Vec<Receiver<Vec<Pi>>>) -> Self {
        InOrder { sources, next: 0, current: Vec::new().into_iter(), done: false }
    }
}

impl Iterator for InOrder {
    type Item = Pi;

    fn next(&mut self) -> Option<Pi> {
        loop {
            if let Some(pi) = self.current.next() {
                return Some(pi);
            }
            if self.done {
                return None;
            }
            // A closed source: its checker finished (the end of the PIs) or gave up (then the
            // verdict is `None` and what was consumed does not count).
            match self.sources[self.next % self.sources.len()].recv() {
                Ok(pis) => {
                    self.current = pis.into_iter();
                    self.next += 1;
                }
                Err(_) => self.done = true,
            }
        }
    }
}

/// What a checking stage found in one run.
pub(super) struct CheckedRun {
    pub(super) first: usize,
    pub(super) counts: Counts,
    pub(super) findings: PiFindings,
    pub(super) keys: Vec<String>,
}

/// A checking stage: parses each PI of each run, counts and checks it, and hands the run's PIs
/// to `out` or drops them.
pub(super) fn check_runs(
    validator: &Validator,
    runs: Receiver<Arc<Run>>,
    out: Option<SyncSender<Vec<Pi>>>,
    limits: &Limits,
) -> Step<Vec<CheckedRun>> {
    let max_string = limits.max_string;
    let mut checked = Vec::new();
    let mut reused: Option<Pi> = None;
    for run in runs {
        // One UTF-8 check for the run; the parser then takes `&str`s and checks no string again.
        let text = std::str::from_utf8(run.text()).map_err(|_| give_up("the PIs are not valid UTF-8"))?;
        if text.len() > max_string && !guard::tokens_within(text.as_bytes(), max_string) {
            return Err(give_up("a string in the PIs is over the string limit"));
        }
        let mut this = CheckedRun {
            first: run.first,
            counts: Counts::default(),
            findings: PiFindings::default(),
            keys: Vec::with_capacity(run.spans.len()),
        };
        let mut pis = Vec::with_capacity(if out.is_some() { run.spans.len() } else { 0 });
        for (k, span) in run.spans.iter().enumerate() {
            let text = text.get(span.clone()).ok_or_else(|| give_up("a PI's bounds were lost"))?;
            // PIs that are only checked are parsed into the same value again and again: its
            // strings and lists are filled anew, not allocated (serde's `deserialize_in_place`,
            // which gives the value a fresh parse gives; on an error it is not used).
            let pi: &Pi = match (&out, &mut reused) {
                (None, Some(place)) => {
                    let mut json = serde_json::Deserializer::from_str(text);
                    Pi::deserialize_in_place(&mut json, place)?;
                    json.end()?;
                    place
                }
                (None, empty) => empty.insert(serde_json::from_str(text)?),
                (Some(_), _) => {
                    pis.push(serde_json::from_str(text)?);
                    pis.last().ok_or_else(|| give_up("a PI was not parsed"))?
                }
            };
            // The hashing stage hashes the PI's bytes as they are in the file (see "Hashing" in
            // `hash_runs`): that is the full reader's digest only if they are the PI's canonical
            // form, so anything else gives up (a PI with a line break, from a pretty-printed
            // archive, is hashed in canonical form there instead).
            let rehashed = !run.compact && memchr::memchr(b'\n', text.as_bytes()).is_some();
            if !rehashed && !is_canonical_form(pi, text.as_bytes()) {
                return Err(give_up("a PI is not in canonical form"));
            }
            // The entity limit (SPEC.md 7) is on the canonical form: the text itself, once it
            // is known to be that form; measured otherwise.
            let size = if rehashed { Limits::entity_size(pi) } else { text.len() as u64 };
            if size > limits.max_entity {
                return Err(give_up("a PI is over the entity limit"));
            }
            this.counts.add_pi(pi);
            validator.check_pi(run.first + k, pi, &mut this.findings);
            this.keys.push(pi.key.clone());
        }
        drop(run);
        if let Some(out) = &out {
            out.send(pis).map_err(|_| give_up("the PIs were not all taken"))?;
        }
        checked.push(this);
    }
    Ok(checked)
}

/// What the hashing stage of pass 2 found: the digests of the data.
pub(super) struct Hashed {
    pub(super) content: String,
    pub(super) integrity: String,
}

/// The hashing stage of pass 2.
///
/// # Hashing
///
/// The digests are computed over the canonical data around the PIs (made from pass 1's
/// skeleton) and the PIs' bytes **as they are in the file**, not re-serialized, unless a PI
/// holds a line break (pretty-printed `.json` archives: those PIs are parsed here and hashed in
/// canonical form). Those bytes give the full reader's digests only if they are the PIs'
/// canonical form, and the file is what says what the digests are: a tool that writes `10.0` or
/// a space and hashes its own output makes a file whose digests match its bytes but not the
/// canonical form, which the full reader refuses. So the checking stage compares each PI with
/// its canonical form (`check_runs`), and any other PI makes the fast path give up; for the files
/// the writer makes, that comparison costs a fraction of serializing every PI again.
pub(super) fn hash_runs(skeleton: &Skeleton, runs: Receiver<Arc<Run>>) -> Step<Hashed> {
    let raw_header = serde_json::from_slice::<Box<serde_json::value::RawValue>>(&skeleton.raw_header)?;
    let canonical_header = serde_json::from_str(raw_header.get())
        .and_then(crate::archive::digest::canonical_header)
        .map_err(|_| give_up("the header has no canonical form"))?;
    let (head, tail) = data_around_pis(&skeleton.data, true);
    let mut hasher = DataHasher::new();
    hasher.bytes(&head);
    let mut first = true;
    for run in runs {
        if run.compact {
            if !first {
                hasher.bytes(b",");
            }
            hasher.bytes(run.text());
            first = false;
            continue;
        }
        for span in &run.spans {
            if !first {
                hasher.bytes(b",");
            }
            first = false;
            let raw = &run.text()[span.clone()];
            // A line break outside a string is never canonical, and inside one it would be
            // escaped: a PI with one comes from a pretty-printed archive (see "Hashing").
            if memchr::memchr(b'\n', raw).is_some() {
                hasher.canonical(&parse::<Pi>(raw)?);
            } else {
                hasher.bytes(raw);
            }
        }
    }
    hasher.bytes(&tail);
    let digests = hasher.finish();
    let content = digests.content.clone();
    let integrity = digests.integrity(u64::from(FORMAT_VERSION), &canonical_header);
    Ok(Hashed { content, integrity })
}

/// Whether every entity outside the PIs (the header, the admins, the settings, each team,
/// program and period) is within the entity limit, measured on its canonical form as the full
/// reader measures it (SPEC.md 7); otherwise the full reader gives the verdict.
pub(super) fn skeleton_within(skeleton: &Skeleton, max_entity: u64) -> bool {
    let data = &skeleton.data;
    let header = serde_json::from_slice::<serde_json::Value>(&skeleton.raw_header)
        .ok()
        .and_then(|header| serde_json_canonicalizer::to_vec(&header).ok())
        .map(|canonical| canonical.len() as u64);
    let within = |size: u64| size <= max_entity;
    header.is_some_and(within)
        && data.admins.as_ref().is_none_or(|admins| within(Limits::entity_size(admins)))
        && within(Limits::entity_size(&data.settings))
        && data.teams.iter().all(|team| within(Limits::entity_size(team)))
        && data.programs.iter().all(|program| within(Limits::entity_size(program)))
        && data.periods.iter().all(|period| within(Limits::entity_size(period)))
}

/// Compares what pass 2 computed with the header pass 1 read, and puts the checkers' findings
/// together in PI order.
pub(super) fn verdict(
    skeleton: &Skeleton,
    validator: &Validator,
    hashed: Hashed,
    mut runs: Vec<CheckedRun>,
) -> Step<Streamed> {
    let raw_header = serde_json::from_slice::<Box<serde_json::value::RawValue>>(&skeleton.raw_header)?;
    let header = crate::archive::parse_header(&raw_header).map_err(|_| give_up("the header does not decode"))?;
    runs.sort_by_key(|run| run.first);
    let mut counts = skeleton.data.counts();
    let mut findings = PiFindings::default();
    // Sized from what was read, never from the header's counts, which a forged file may inflate.
    let mut keys = Vec::with_capacity(runs.iter().map(|run| run.keys.len()).sum());
    for run in runs {
        if run.first != keys.len() {
            return Err(give_up("the PIs came back out of order"));
        }
        counts += run.counts;
        findings.append(run.findings);
        keys.extend(run.keys);
    }
    if hashed.integrity != header.integrity_digest || hashed.content != header.content_digest || counts != header.counts
    {
        return Err(give_up("a digest or a count does not match"));
    }
    let findings = validator.finish(findings, keys.iter().map(String::as_str));
    Ok(Streamed { header, has_admins: skeleton.data.admins.is_some(), findings })
}

/// The reading stage of pass 2: fingerprints the bytes outside the PIs, measures their strings
/// (see "Limits"), and cuts the PIs into runs for the other stages.
pub(super) struct PassTwo<'a> {
    pub(super) raw_header: &'a [u8],
    pub(super) max_string: usize,
    pub(super) fingerprint: Fingerprint,
    pub(super) sinks: Sinks,
    pub(super) pool: Pool,
}

impl PassTwo<'_> {
    pub(super) fn non_pi(&mut self, tag: u8, raw: &[u8]) -> Step<()> {
        self.fingerprint.add(tag, raw);
        if raw.len() > self.max_string && !guard::tokens_within(raw, self.max_string) {
            return Err(give_up("a string outside the PIs is over the string limit"));
        }
        Ok(())
    }
}

impl Visit for PassTwo<'_> {
    fn header(&mut self, raw: &[u8]) -> Step<()> {
        if raw != self.raw_header {
            return Err(give_up("the header changed between the passes"));
        }
        self.non_pi(0, raw)
    }

    fn part(&mut self, part: Part, raw: &[u8]) -> Step<()> {
        self.non_pi(part as u8 + 1, raw)
    }

    fn pis<R: Read>(&mut self, scanner: &mut Scanner<R>) -> Step<()> {
        if scanner.compact_pis(&self.pool, |run| self.sinks.send(run))? {
            return Ok(());
        }
        let mut run = Run::loose(0);
        scanner.array(|raw| {
            run.push(raw);
            if run.is_full() {
                let next = Run::loose(run.first + run.spans.len());
                self.sinks.send(std::mem::replace(&mut run, next))?;
            }
            Ok(())
        })?;
        self.sinks.send(run)
    }
}

pub(super) fn pass_two<R: Read>(reader: R, limits: &Limits, skeleton: &Skeleton, sinks: Sinks) -> Step<()> {
    // Without the guard's scan the model's types bound the nesting (see "Limits"), unless the
    // limit is tighter than the model.
    let checks = if limits.max_depth >= MODEL_DEPTH { Checks::SizeOnly } else { Checks::Guard };
    let mut pass = PassTwo {
        raw_header: &skeleton.raw_header,
        max_string: limits.max_string,
        fingerprint: Fingerprint::default(),
        sinks,
        pool: Pool::new(),
    };
    let mut scanner = Scanner::new(decoded(reader, limits, checks)?, PASS_TWO_MAX_VALUE);
    walk(&mut scanner, &mut pass)?;
    // The other stages' input ends here, so that they finish beside the comparison below.
    drop(pass.sinks);
    if pass.fingerprint.finish() != skeleton.fingerprint {
        return Err(give_up("the data outside the PIs changed between the passes"));
    }
    Ok(())
}
