//! Deterministic parallel gzip, as pigz's `--independent` mode writes it: the stream is cut
//! into fixed-size blocks, each deflated on its own (no shared dictionary) and ended with a
//! sync flush so the blocks simply concatenate, inside one gzip member whose CRC is combined
//! from the blocks' CRCs.
//!
//! Why not flate2's `GzEncoder`: one deflate stream is one core's work, and a pushed 900 MB
//! layer then costs seconds while the other cores idle. This is sixty lines over flate2's
//! `Compress` and crc32fast's CRC combination, both already in the tree; a crate for it (gzp)
//! would add its own thread pool and dependencies for the same result. The output depends only on the input,
//! the level and [`BLOCK`] — never on the number of threads — so the same layer always has the
//! same blob digest (reproducible builds push the same digests), and any gzip reader reads it.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::io::{self, Write};

/// Bytes of input per independently deflated block (pigz's default is 128 KiB; larger blocks
/// lose less ratio to the missing dictionary and cost less per-thread overhead).
pub const BLOCK: usize = 1 << 20;

/// A gzip writer that deflates [`BLOCK`]-sized blocks on all cores.
pub struct ParGzWriter<W: Write> {
    out: Option<W>,
    level: u32,
    threads: usize,
    /// Full blocks waiting for a batch, and the block being filled.
    full: Vec<Vec<u8>>,
    cur: Vec<u8>,
    crc: crc32fast::Hasher,
    total: u64,
}

impl<W: Write> ParGzWriter<W> {
    /// Writes the gzip header (mtime 0, no name: the same input gives the same bytes).
    pub fn new(mut out: W, level: u32) -> io::Result<ParGzWriter<W>> {
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
        Ok(ParGzWriter {
            out: Some(out),
            level,
            threads,
            full: Vec::new(),
            cur: Vec::with_capacity(BLOCK),
            crc: crc32fast::Hasher::new(),
            total: 0,
        })
    }

    /// Deflates the waiting blocks (in parallel) and writes them in order.
    fn drain(&mut self, last: Option<Vec<u8>>) -> io::Result<()> {
        let level = self.level;
        let mut blocks: Vec<(Vec<u8>, bool)> = self.full.drain(..).map(|b| (b, false)).collect();
        if let Some(l) = last {
            blocks.push((l, true));
        }
        let done: Vec<io::Result<(Vec<u8>, crc32fast::Hasher)>> = std::thread::scope(|s| {
            let handles: Vec<_> =
                blocks.iter().map(|(b, last)| s.spawn(move || deflate_block(b, level, *last))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("a gzip thread panicked"))))
                .collect()
        });
        let out = self.out.as_mut().expect("not finished");
        for r in done {
            let (bytes, crc) = r?;
            out.write_all(&bytes)?;
            self.crc.combine(&crc);
        }
        Ok(())
    }

    /// Ends the stream (the last block, then the CRC and length trailer) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.cur);
        self.drain(Some(last))?;
        let mut out = self.out.take().expect("not finished");
        out.write_all(&self.crc.clone().finalize().to_le_bytes())?;
        out.write_all(&(self.total as u32).to_le_bytes())?;
        Ok(out)
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK - self.cur.len());
        self.cur.extend_from_slice(&buf[..n]);
        self.total += n as u64;
        if self.cur.len() == BLOCK {
            self.full.push(std::mem::replace(&mut self.cur, Vec::with_capacity(BLOCK)));
            if self.full.len() >= self.threads * 2 {
                self.drain(None)?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a flush would change the output's bytes; blocks go out as they fill
    }
}

/// One block, deflated raw: sync-flushed to a byte boundary, or finished (BFINAL) if last.
fn deflate_block(data: &[u8], level: u32, last: bool) -> io::Result<(Vec<u8>, crc32fast::Hasher)> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = c.total_in() as usize;
        let status = c.compress_vec(&data[consumed..], &mut out, flush).map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => break,
            // The flush is complete once all input is in and the output did not fill up.
            _ if !last && all_in && out.capacity() - out.len() >= 4096 => break,
            _ => {}
        }
    }
    Ok((out, crc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn compress(data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = ParGzWriter::new(Vec::new(), 1).unwrap();
        w.threads = threads;
        // Odd write sizes cross block boundaries.
        for c in data.chunks(77_777) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_and_does_not_depend_on_threads() {
        let mut data = Vec::new();
        let mut i = 0u64;
        while data.len() < 3 * BLOCK + 12345 {
            data.extend_from_slice(format!("line {} of {}\n", i % 977, i.wrapping_mul(2654435761) % 13).as_bytes());
            i += 1;
        }
        let one = compress(&data, 1);
        let many = compress(&data, 4);
        assert_eq!(one, many, "the bytes depend on the input only");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&one[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        assert!(one.len() < data.len() / 2);
        for empty in [compress(b"", 2), compress(&data[..BLOCK], 2)] {
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&empty[..]).read_to_end(&mut back).unwrap();
        }
    }
}
