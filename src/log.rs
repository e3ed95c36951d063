//! One line per step taken or skipped. To journald with fields when running under systemd
//! (stderr is not a terminal and the journal socket exists), plain lines on stderr otherwise.

use std::io::IsTerminal;

use libsystemd::logging::{journal_send, Priority};

pub struct Log {
    journal: bool,
    /// Also write to stderr (journal copy of a hook's output, which ifupdown2 may discard).
    stderr_too: bool,
    verbose: bool,
    tool: &'static str,
}

/// `MESSAGE_ID` of step records, so `journalctl MESSAGE_ID=...` lists every step taken.
const STEP_MESSAGE_ID: &str = "5a1b7e0f2c6d4e8a9b3c1d2e4f607182";

impl Log {
    /// A unit's stderr is the journal (JOURNAL_STREAM): log there with fields, once. Run from
    /// an ifupdown hook, stderr is a pipe that ifupdown2 discards when the hook succeeds: log
    /// to the journal too when it exists, so boot steps always leave a trace. On a terminal, or
    /// on a fixture tree (tests), stderr only.
    pub fn new(tool: &'static str, verbose: bool) -> Log {
        let eligible =
            !std::io::stderr().is_terminal() && std::env::var_os("SRIOV_OFFLOAD_ROOT").is_none();
        let unit = eligible && libsystemd::logging::connected_to_journal();
        let journal_exists = std::path::Path::new("/run/systemd/journal/socket").exists();
        Log {
            journal: unit || (eligible && journal_exists),
            stderr_too: !unit,
            verbose,
            tool,
        }
    }

    fn emit(&self, prio: Priority, msg: &str, fields: &[(&str, &str)]) {
        if self.journal {
            let mut vars: Vec<(&str, &str)> = vec![("SYSLOG_IDENTIFIER", self.tool)];
            vars.extend_from_slice(fields);
            if journal_send(prio, msg, vars.into_iter()).is_ok() && !self.stderr_too {
                return;
            }
        }
        eprintln!("{}: {msg}", self.tool);
    }

    pub fn step(&self, pf: &str, step: &str, msg: &str) {
        self.emit(
            Priority::Notice,
            msg,
            &[
                ("MESSAGE_ID", STEP_MESSAGE_ID),
                ("SRIOV_PF", pf),
                ("SRIOV_STEP", step),
            ],
        );
    }

    /// A PF left alone, with the reason: journal field SRIOV_PF, no SRIOV_STEP (nothing was
    /// done), so `journalctl SRIOV_STEP=...` lists only changes.
    pub fn skipped(&self, pf: &str, msg: &str) {
        self.emit(Priority::Info, msg, &[("SRIOV_PF", pf)]);
    }

    pub fn info(&self, msg: &str) {
        self.emit(Priority::Info, msg, &[]);
    }

    pub fn debug(&self, msg: &str) {
        if self.verbose {
            self.emit(Priority::Debug, msg, &[]);
        }
    }

    pub fn warn(&self, msg: &str) {
        self.emit(Priority::Warning, msg, &[]);
    }

    pub fn error(&self, msg: &str) {
        self.emit(Priority::Error, msg, &[]);
    }
}
