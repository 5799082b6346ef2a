//! Log collection: a child's stdout/stderr passed through byte for byte, and files followed
//! across truncation and rotation. Each stream hands its chunks to the analysis queue
//! ([`crate::analysis`]) and never waits for it.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

pub use crate::analysis::StreamSink;
use crate::clock::now_ms;

/// Copies `reader` to `writer` unchanged, handing each chunk to the analysis, until end of
/// stream. Write errors (our own stdout closed) do not stop the reading: the child must never
/// block on a full pipe. The analysis never slows this loop: a chunk it has no room for is
/// dropped from the analysis (and counted), never from the output.
pub async fn pass_through<R, W>(mut reader: R, mut writer: W, mut sink: StreamSink)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 64 * 1024];
    let mut writable = true;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if writable && (writer.write_all(&buf[..n]).await.is_err() || writer.flush().await.is_err())
        {
            writable = false;
        }
        sink.feed(&buf[..n], now_ms());
    }
    sink.finish();
}

/// Where a followed file is.
struct Position {
    file: tokio::fs::File,
    inode: u64,
    offset: u64,
}

async fn open_at(path: &PathBuf, at_end: bool) -> Option<Position> {
    use std::os::unix::fs::MetadataExt;
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    let offset = if at_end { meta.len() } else { 0 };
    file.seek(std::io::SeekFrom::Start(offset)).await.ok()?;
    Some(Position {
        file,
        inode: meta.ino(),
        offset,
    })
}

async fn drain(pos: &mut Position, sink: &mut StreamSink, buf: &mut [u8]) {
    loop {
        match pos.file.read(buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                pos.offset += n as u64;
                sink.feed(&buf[..n], now_ms());
            }
        }
    }
}

/// Follows `path` like `tail -F`: existing content is skipped, appended lines are read, a
/// rotated file (new inode at the path) is read to its end before the new one is opened from
/// the start, and a truncated file (copytruncate) is read again from the start. Polls every
/// 250 ms until `stop` resolves.
pub async fn follow_file(
    path: PathBuf,
    mut sink: StreamSink,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use std::os::unix::fs::MetadataExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = open_at(&path, true).await;
    let mut reported_missing = false;
    loop {
        match pos.as_mut() {
            None => {
                pos = open_at(&path, false).await;
                if pos.is_none() && !reported_missing {
                    reported_missing = true;
                    tracing::debug!("waiting for log file {}", path.display());
                }
            }
            Some(p) => {
                drain(p, &mut sink, &mut buf).await;
                match tokio::fs::metadata(&path).await {
                    Ok(meta) if meta.ino() != p.inode => {
                        // Rotated: finish the old file, then start the new one from the top.
                        drain(p, &mut sink, &mut buf).await;
                        pos = open_at(&path, false).await;
                    }
                    Ok(meta) if meta.len() < p.offset => {
                        let _ = p.file.seek(std::io::SeekFrom::Start(0)).await;
                        p.offset = 0;
                    }
                    Ok(_) => {}
                    Err(_) => {} // Removed: keep the old handle until a new file appears.
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {
                if let Some(p) = pos.as_mut() {
                    drain(p, &mut sink, &mut buf).await;
                }
                break;
            }
        }
    }
    sink.finish();
}
