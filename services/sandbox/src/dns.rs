//! The sandbox's name server. A sandboxed run has no network but
//! loopback, so a name lookup can only fail; it must fail at once, not
//! after a resolver's timeout (5 s a try for glibc, longer for resolvers
//! that never hear the ICMP error of an unconnected socket). The run's
//! `/etc/resolv.conf` names `127.0.0.1`, where the executor answers every
//! query "no such name" from inside the run's network namespace. Hosts
//! the run may reach go through the egress proxy, which resolves them.

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// The run folder's file the sandbox shows as `/etc/resolv.conf`.
pub const RESOLV_CONF_FILE: &str = "resolv.conf";

/// The run's `/etc/resolv.conf`.
pub const RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";

/// Where the name server listens inside the run's network namespace.
pub const LISTEN: &str = "127.0.0.1:53";

/// The answer to `query`: the same id, question and recursion flag, no
/// records, response code NXDOMAIN; `None` for what is not a DNS query.
pub fn no_such_name(query: &[u8]) -> Option<Vec<u8>> {
    let header = query.get(..12)?;
    let (flags, questions) = (header[2], u16::from_be_bytes([header[4], header[5]]));
    // A response (QR set), or a query without exactly one question.
    if flags & 0x80 != 0 || questions != 1 {
        return None;
    }
    let end = question_end(query, 12)?;
    let mut answer = Vec::with_capacity(end);
    answer.extend_from_slice(&header[..2]);
    // QR, the opcode and RD as asked; RA; RCODE 3 (NXDOMAIN).
    answer.push(0x80 | (flags & 0x79));
    answer.push(0x80 | 3);
    answer.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    answer.extend_from_slice(&query[12..end]);
    Some(answer)
}

/// Where the question starting at `at` ends (its name, type and class).
fn question_end(query: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = usize::from(*query.get(at)?);
        match len {
            0 => break,
            // A name in a question is never compressed.
            1..=63 => at += 1 + len,
            _ => return None,
        }
    }
    let end = at + 1 + 4;
    (end <= query.len()).then_some(end)
}

/// Answers queries on `socket` until `stop`.
pub async fn serve(socket: UdpSocket, stop: CancellationToken) {
    let mut buf = [0u8; 512];
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            received = socket.recv_from(&mut buf) => received,
        };
        let Ok((len, from)) = received else { return };
        if let Some(answer) = no_such_name(&buf[..len]) {
            let _ = socket.send_to(&answer, from).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `example.com A`, as `dig` sends it (id 0xabcd, RD, an EDNS record).
    const QUERY: [u8; 40] = [
        0xab, 0xcd, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o',
        b'm', 0, 0, 1, 0, 1, 0, 0, 0x29, 0x10, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn every_query_is_answered_no_such_name_with_its_own_id_and_question() {
        let answer = no_such_name(&QUERY).expect("an answer");
        assert_eq!(&answer[..2], &[0xab, 0xcd], "the query's id");
        assert_eq!(answer[2] & 0x80, 0x80, "a response");
        assert_eq!(answer[2] & 0x01, 0x01, "recursion desired, as asked");
        assert_eq!(answer[3] & 0x0f, 3, "NXDOMAIN");
        assert_eq!(&answer[4..12], &[0, 1, 0, 0, 0, 0, 0, 0], "the question, no records");
        assert_eq!(
            &answer[12..],
            &QUERY[12..29],
            "the question as asked, without the EDNS record"
        );
    }

    #[test]
    fn what_is_not_a_query_gets_no_answer() {
        let mut response = QUERY;
        response[2] |= 0x80;
        let rows: [(&[u8], &str); 4] = [
            (&QUERY[..11], "shorter than a header"),
            (&QUERY[..20], "a name cut short"),
            (&response, "a response"),
            (&[0xab, 0xcd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], "no question"),
        ];
        for (bytes, why) in rows {
            assert_eq!(no_such_name(bytes), None, "{why}");
        }
    }
}
