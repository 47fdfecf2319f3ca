//! Arbitrary bytes through the mail intake's parsing: it must never panic,
//! only accept a message or give the reason it would be quarantined.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = guichet_app::mail::inspect(data);
});
