//! Arbitrary bytes through the mail intake's parsing: it must never panic,
//! only accept a message or give the reason it would be quarantined.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = guichet_app::mail::inspect(data);
    // The same bytes as the subject, the thread and the body of a well-formed
    // message, so that the fuzzer reaches subject handling (keys, reply
    // prefixes, case folding, NUL bytes) without having to find a header first.
    let text = String::from_utf8_lossy(data);
    let line = text.replace(['\r', '\n'], " ");
    let wrapped = format!(
        "From: a@b.test\r\nSubject: {line}\r\nReferences: <{line}>\r\nAuthentication-Results: {line}\r\n\r\n{text}\r\n"
    );
    let _ = guichet_app::mail::inspect(wrapped.as_bytes());
});
