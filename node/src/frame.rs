//! Length-prefixed frames (SPEC.md "Hosts", "Frames"): a `u32` big-endian length, then that many
//! bytes, at most [`FRAME_MAX`]. A frame that is too long ends the connection (the reader never
//! allocates for it) and is counted by the caller.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame payload accepted or sent (1 MiB): far above any vault message (a catch-up
/// page is the largest, a few KiB per account) and small enough that a peer cannot make a host
/// allocate much.
pub const FRAME_MAX: usize = 1 << 20;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame longer than [`FRAME_MAX`].
    #[error("frame of {0} bytes is over the limit")]
    Oversize(u64),
    /// The connection ended or failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame (at most [`FRAME_MAX`] bytes).
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, FrameError> {
    read_frame_max(reader, FRAME_MAX).await
}

/// Reads one frame of at most `max` bytes (for handshakes: a peer not yet authenticated cannot
/// make the host allocate more than `max`).
pub async fn read_frame_max<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > max.min(FRAME_MAX) {
        return Err(FrameError::Oversize(u64::from(len)));
    }
    let mut buf = vec![0u8; len_usize];
    reader.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one frame (an over-long payload is refused as `InvalidInput`).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    payload: &[u8],
) -> std::io::Result<()> {
    if payload.len() > FRAME_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "frame over the limit",
        ));
    }
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(payload).await?;
    writer.flush().await
}

/// The first frame on a connection to a replica host: [`HELLO_MAGIC`] and the role of the
/// connecting side.
pub const HELLO_MAGIC: &[u8; 6] = b"E2EEN1";
/// Hello role: another replica of the group (frames are link envelopes).
pub const ROLE_REPLICA: u8 = 1;
/// Hello role: a relay (frames are vault requests, answered with vault replies).
pub const ROLE_RELAY: u8 = 2;

/// The length of a hello frame.
pub const HELLO_LEN: usize = 7;

/// The hello frame for `role`.
pub fn hello(role: u8) -> Vec<u8> {
    let mut out = HELLO_MAGIC.to_vec();
    out.push(role);
    out
}

/// The role a hello frame names, if it is one.
pub fn parse_hello(frame: &[u8]) -> Option<u8> {
    match frame {
        [m @ .., role] if m == HELLO_MAGIC && (*role == ROLE_REPLICA || *role == ROLE_RELAY) => {
            Some(*role)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_an_oversize_length_is_refused_before_reading() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").await.ok();
        write_frame(&mut buf, b"").await.ok();
        let mut r = buf.as_slice();
        assert_eq!(read_frame(&mut r).await.ok(), Some(b"hello".to_vec()));
        assert_eq!(read_frame(&mut r).await.ok(), Some(Vec::new()));
        assert!(matches!(read_frame(&mut r).await, Err(FrameError::Io(_))));
        let over = u32::try_from(FRAME_MAX + 1)
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        let mut r = over.as_slice();
        assert!(matches!(
            read_frame(&mut r).await,
            Err(FrameError::Oversize(_))
        ));
    }

    #[test]
    fn only_a_well_formed_hello_names_a_role() {
        assert_eq!(parse_hello(&hello(ROLE_RELAY)), Some(ROLE_RELAY));
        assert_eq!(parse_hello(&hello(ROLE_REPLICA)), Some(ROLE_REPLICA));
        assert_eq!(parse_hello(&hello(3)), None);
        assert_eq!(parse_hello(b"E2EEN1"), None);
        assert_eq!(parse_hello(b"garbage!"), None);
    }
}
