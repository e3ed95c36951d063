//! One request/response netlink socket: sends a request, collects every reply that belongs to
//! it (one message, or a whole multi-part dump), and turns an error reply into a [`KernelError`]
//! that carries the kernel's extended-ACK text ("Device does not support switchdev", ...).
//!
//! neli's `NlRouter` would do this with a background thread and a fixed 32 KiB receive buffer;
//! a boot-time tool wants neither, so this drives neli's plain `NlSocket` and sizes the buffer per
//! datagram (a PF with many VFs answers RTM_GETLINK with one large message).

use std::{fmt, io, io::Cursor};

use anyhow::{anyhow, Context, Result};
use neli::{
    consts::{
        genl::{CtrlAttr, CtrlCmd},
        nl::{GenlId, NlType, NlmF, Nlmsg, NlmsgerrAttr},
        socket::{Msg, NlFamily},
    },
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder},
    nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder},
    socket::NlSocket,
    types::{Buffer, GenlBuffer},
    utils::Groups,
    FromBytes, FromBytesWithInput, Size, ToBytes,
};
use nix::errno::Errno;

use super::attrs::{find_nla, u16_of};

/// The kernel refused a netlink request: its errno and, when it gave one, the extended-ACK
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    pub errno: Errno,
    pub message: Option<String>,
}

impl fmt::Display for KernelError {
    /// "Operation not supported (EOPNOTSUPP) (kernel: …)": the libc text, which is what
    /// operators know, and the symbolic name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = io::Error::from_raw_os_error(self.errno as i32).to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        write!(f, "{text} ({:?})", self.errno)?;
        if let Some(m) = &self.message {
            write!(f, " (kernel: {m})")?;
        }
        Ok(())
    }
}

impl std::error::Error for KernelError {}

impl KernelError {
    /// From an NLMSG_ERROR reply (`error` is a negative errno) or the error code of an
    /// NLMSG_DONE that ended a failed dump, with the extended-ACK text if any.
    fn new(error: i32, ext_ack: &GenlBuffer<NlmsgerrAttr, Buffer>) -> Self {
        let message = ext_ack
            .iter()
            .find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg)
            .map(|a| super::attrs::str_of(a.nla_payload().as_ref()))
            .filter(|m| !m.is_empty());
        KernelError {
            errno: Errno::from_raw(error.wrapping_neg()),
            message,
        }
    }
}

/// Message types below this are netlink control messages (linux/netlink.h).
const NLMSG_MIN_TYPE: u16 = 0x10;

/// How many times a dump that the kernel marked inconsistent (NLM_F_DUMP_INTR: the table changed
/// while it was being dumped, e.g. VFs appearing) is restarted before giving up.
const DUMP_RETRIES: usize = 5;

pub(crate) struct Conn {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl Conn {
    pub(crate) fn open(family: NlFamily) -> io::Result<Self> {
        let sock = NlSocket::connect(family, None, Groups::empty())?;
        // Extended ACKs turn a bare EINVAL/EOPNOTSUPP into the kernel's reason. Kernels older
        // than 4.12 lack the option; errors are still reported, just without the text.
        let _ = sock.enable_ext_ack(true);
        Ok(Conn {
            sock,
            seq: 0,
            buf: vec![0; 32 * 1024],
        })
    }

    /// Sends one request (NLM_F_REQUEST | NLM_F_ACK are added) and returns the payloads of all
    /// replies to it: one for a plain request (none for a "set"), all parts of a dump when
    /// `flags` has NLM_F_DUMP.
    pub(crate) fn request<T, P>(&mut self, ty: T, flags: NlmF, payload: P) -> Result<Vec<Buffer>>
    where
        T: NlType,
        P: Size + ToBytes,
    {
        let msg = NlmsghdrBuilder::default()
            .nl_type(ty)
            .nl_flags(flags | NlmF::REQUEST | NlmF::ACK)
            .nl_payload(NlPayload::Payload(payload))
            .build()?;
        let mut bytes = Cursor::new(vec![0; msg.padded_size()]);
        msg.to_bytes(&mut bytes)
            .context("serialising netlink request")?;
        let mut bytes = bytes.into_inner();

        let mut attempt = 0;
        loop {
            attempt += 1;
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            // nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32 (linux/netlink.h)
            bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
            self.send(&bytes)?;
            let (replies, interrupted) = self.collect(seq)?;
            if !interrupted {
                return Ok(replies);
            }
            if attempt >= DUMP_RETRIES {
                return Err(anyhow!(
                    "netlink dump was interrupted by concurrent changes {DUMP_RETRIES} times in a row"
                ));
            }
        }
    }

    /// A generic-netlink request: `cmd` with `attrs` to family `family`; returns the attributes of
    /// every reply.
    pub(crate) fn genl(
        &mut self,
        family: u16,
        cmd: u8,
        version: u8,
        flags: NlmF,
        attrs: Vec<Nlattr<u16, Buffer>>,
    ) -> Result<Vec<GenlBuffer<u16, Buffer>>> {
        let hdr = GenlmsghdrBuilder::<u8, u16>::default()
            .cmd(cmd)
            .version(version)
            .attrs(attrs.into_iter().collect::<GenlBuffer<u16, Buffer>>())
            .build()?;
        let replies = self.request(family, flags, hdr)?;
        replies
            .iter()
            .map(|b| {
                Genlmsghdr::<u8, u16>::from_bytes_with_input(&mut Cursor::new(b.as_ref()), b.len())
                    .map(|g| g.attrs().clone())
                    .context("malformed generic netlink reply")
            })
            .collect()
    }

    /// Resolves a generic-netlink family name ("devlink", "ethtool") to its id.
    pub(crate) fn resolve_family(&mut self, name: &str) -> Result<u16> {
        let attr = NlattrBuilder::default()
            .nla_type(
                AttrTypeBuilder::default()
                    .nla_type(CtrlAttr::FamilyName)
                    .build()?,
            )
            .nla_payload(name)
            .build()?;
        let hdr = GenlmsghdrBuilder::<CtrlCmd, CtrlAttr>::default()
            .cmd(CtrlCmd::Getfamily)
            .version(2)
            .attrs(std::iter::once(attr).collect::<GenlBuffer<_, _>>())
            .build()?;
        let replies = self.request(GenlId::Ctrl, NlmF::empty(), hdr)?;
        for b in &replies {
            let g =
                Genlmsghdr::<u8, u16>::from_bytes_with_input(&mut Cursor::new(b.as_ref()), b.len())
                    .context("malformed nlctrl reply")?;
            let id_attr: u16 = CtrlAttr::FamilyId.into();
            if let Some(id) = find_nla(g.attrs(), id_attr).and_then(u16_of) {
                return Ok(id);
            }
        }
        Err(anyhow!("nlctrl answered without a family id"))
    }

    fn send(&self, bytes: &[u8]) -> Result<()> {
        loop {
            match self.sock.send(bytes, Msg::empty()) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("sending netlink request"),
            }
        }
    }

    /// Receives one datagram into `self.buf`, growing it to the datagram's real size first.
    fn recv_datagram(&mut self) -> Result<usize> {
        loop {
            let mut empty: [u8; 0] = [];
            let peeked = self.sock.recv(&mut empty[..], Msg::PEEK | Msg::TRUNC);
            let len = match peeked {
                Ok((len, _)) => len,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("receiving netlink reply"),
            };
            if self.buf.len() < len {
                self.buf.resize(len, 0);
            }
            match self.sock.recv(&mut self.buf[..], Msg::empty()) {
                Ok((n, _)) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("receiving netlink reply"),
            }
        }
    }

    /// Reads replies to `seq` until its ACK (plain request) or NLMSG_DONE (dump). Returns the
    /// payloads and whether the kernel flagged the dump as interrupted.
    fn collect(&mut self, seq: u32) -> Result<(Vec<Buffer>, bool)> {
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            let n = self.recv_datagram()?;
            let mut cur = Cursor::new(&self.buf[..n]);
            while (cur.position() as usize) < n {
                let msg = Nlmsghdr::<u16, Buffer>::from_bytes(&mut cur)
                    .context("malformed netlink message from the kernel")?;
                if *msg.nl_seq() != seq {
                    // A late reply to an earlier request that we gave up on: not ours.
                    continue;
                }
                if msg.nl_flags().contains(NlmF::DUMP_INTR) {
                    interrupted = true;
                }
                let done: u16 = Nlmsg::Done.into();
                match msg.nl_payload() {
                    NlPayload::Payload(p) => {
                        if *msg.nl_type() == done {
                            return Ok((out, interrupted));
                        }
                        // NLMSG_NOOP / NLMSG_OVERRUN carry no data for us.
                        if *msg.nl_type() >= NLMSG_MIN_TYPE {
                            out.push(p.clone());
                        }
                        // For a plain request the ACK follows; for a dump, NLMSG_DONE.
                    }
                    NlPayload::Ack(_) => return Ok((out, interrupted)),
                    NlPayload::Err(e) => {
                        return Err(KernelError::new(*e.error(), e.ext_ack()).into());
                    }
                    NlPayload::DumpExtAck(e) => {
                        if *e.error() != 0 {
                            return Err(KernelError::new(*e.error(), e.ext_ack()).into());
                        }
                        return Ok((out, interrupted));
                    }
                    NlPayload::Empty => {
                        if *msg.nl_type() == done {
                            return Ok((out, interrupted));
                        }
                    }
                }
            }
        }
    }
}
