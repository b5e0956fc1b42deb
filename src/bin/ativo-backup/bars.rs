//! Progress bars on stderr, only when stderr is a terminal and `--quiet` is off: a byte bar
//! when the size of the phase is known, a spinner otherwise.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ativo_backup::progress::{Progress, SharedProgress, silent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress receiver for this run.
pub fn for_run(quiet: bool) -> SharedProgress {
    if quiet || !std::io::stderr().is_terminal() {
        return silent();
    }
    Arc::new(Bars { bar: Mutex::new(None) })
}

struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for Bars {
    fn phase(&self, name: &str, total: Option<u64>) {
        let Ok(mut slot) = self.bar.lock() else { return };
        if let Some(old) = slot.take() {
            old.finish_and_clear();
        }
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => {
                let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                spinner.enable_steady_tick(Duration::from_millis(120));
                spinner
            }
        };
        bar.set_message(name.to_owned());
        *slot = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
        }
    }
}
