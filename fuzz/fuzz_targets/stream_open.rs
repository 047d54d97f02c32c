//! The segment opener, fed a backup stream from an untrusted cloud store.
//!
//! The first byte picks a mode:
//! - even: the rest is a whole stream under the fuzzing key (`e2ee_backup_fuzz::STREAM_KEY`;
//!   the seeds are sealed under it, so mutations reach the segments behind a valid header).
//!   `open_to_vec`, `open_file_in_place` and the `StreamReader` adapter must not panic and must
//!   agree: all fail, or all release the same plaintext.
//! - odd: seal the rest as plaintext (segment size and a tamper from the next bytes), open it
//!   again (must round-trip), then flip one byte or cut the stream short: opening must fail.
#![no_main]

use std::io::Read;

use e2ee_backup::internal::stream::{
    MIN_SEGMENT_SIZE, SegmentOpener, SegmentSealer, StreamReader, open_to_vec,
};
use e2ee_backup_fuzz::{STREAM_KEY, stream_key};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn open_all_ways(file: &[u8]) {
    let key = stream_key();
    let whole = open_to_vec(&key, file);

    let in_place = SegmentOpener::for_stream(&key, file).and_then(|opener| {
        let mut buf = file.to_vec();
        let len = opener.open_file_in_place(&mut buf)?;
        let plain = opener.layout().gather_plaintext(&mut buf)?.to_vec();
        assert_eq!(
            plain.len() as u64,
            len,
            "open_file_in_place reports the plaintext length"
        );
        Ok(plain)
    });

    let mut reader_out = Vec::new();
    let reader = StreamReader::new(&key, file).and_then(|mut r| r.read_to_end(&mut reader_out));

    match (&whole, &in_place, &reader) {
        (Ok(a), Ok(b), Ok(_)) => {
            assert_eq!(a, b, "open_to_vec and open_file_in_place agree");
            assert_eq!(a, &reader_out, "open_to_vec and StreamReader agree");
        }
        (Err(_), Err(_), Err(_)) => {}
        _ => panic!(
            "openers disagree: open_to_vec {:?}, in place {:?}, reader {:?}",
            whole.as_ref().map(Vec::len),
            in_place.as_ref().map(Vec::len),
            reader.as_ref().map(|_| reader_out.len())
        ),
    }
}

fn seal_open_tamper(data: &[u8]) {
    let [s0, s1, p0, p1, p2, flip, plaintext @ ..] = data else {
        return;
    };
    let key = stream_key();
    // Small segments, so a short input still spans several of them.
    let segment_size = MIN_SEGMENT_SIZE + u32::from(u16::from_be_bytes([*s0, *s1]) % 256);
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(*p0));
    let sealer = SegmentSealer::new(&key, segment_size, &mut rng).expect("a valid segment size");
    let mut file = sealer.seal_to_vec(plaintext).expect("sealing succeeds");
    assert_eq!(
        open_to_vec(&key, &file).as_deref(),
        Ok(plaintext),
        "a sealed stream opens to its plaintext"
    );
    let at = usize::from(u16::from_be_bytes([*p1, *p2])) % file.len();
    if *flip == 0 {
        assert!(
            open_to_vec(&key, &file[..at]).is_err(),
            "a stream cut short at {at} of {} does not open",
            file.len()
        );
    } else {
        file[at] ^= flip;
        assert!(
            open_to_vec(&key, &file).is_err(),
            "a stream with byte {at} changed does not open"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = STREAM_KEY;
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => open_all_ways(rest),
        Some((_, rest)) => seal_open_tamper(rest),
        None => {}
    }
});
