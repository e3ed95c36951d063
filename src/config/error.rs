//! Where a configuration error is (`file:line:col`) and what rule it breaks.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::Spanned;

/// A configuration error: where it is and what rule it breaks. Maps to exit code 2.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // a backstop for messages that quote what the parser saw (an unknown key of 1 MB)
        const MAX: usize = 1024;
        let mut msg = self.message.as_str();
        let cut = msg.len() > MAX;
        if cut {
            let mut end = MAX;
            while !msg.is_char_boundary(end) {
                end -= 1;
            }
            msg = &msg[..end];
        }
        if self.line == 0 {
            write!(f, "{}: {msg}", self.file.display())?;
        } else {
            write!(
                f,
                "{}:{}:{}: {msg}",
                self.file.display(),
                self.line,
                self.col
            )?;
        }
        if cut {
            write!(f, "… (message cut, {} bytes)", self.message.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Turns byte offsets into `file:line:col` errors for one source file.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn err_at(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        ConfigError {
            file: self.path.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }
    pub(super) fn err<T>(&self, s: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.err_at(s.span().start, message)
    }
}

pub(super) fn file_error(path: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        message: message.into(),
    }
}
