//! Fuzz target: the streaming validation (`archive::stream`, what `validate` and `import` run on
//! files) against the full reader. The fast path may give up on anything, but what it accepts
//! the full reader must accept too, with the same header and findings; and nothing may panic,
//! hang or allocate without bound on either path.
#![no_main]

use ativo_backup::archive::{self, Limits, stream};
use ativo_backup::model::validate::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let limits = Limits { max_size: 8 << 20, ..Limits::default() };
    if let Some(fast) = stream::validate(bytes, &limits) {
        let slow = match archive::read(bytes, &limits) {
            Ok(archive) => archive,
            Err(e) => panic!("the fast path accepts what the full reader refuses: {e}"),
        };
        assert_eq!(fast.header, slow.header);
        assert_eq!(fast.has_admins, slow.data.admins.is_some());
        assert_eq!(fast.findings, validate(&slow.data));
    }
});
